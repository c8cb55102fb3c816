from rest_framework import serializers

from applications.models import (
    CPU_LIMIT,
    MEMORY_LIMIT_MIB,
    ApplicationInstance,
    InstanceEvent,
    NodeInstance,
    RuntimeRole,
)
from core.status import DeviceReportedStatus, NodeSignalValue
from devices.models import Device

# Read-only fields lose a model field's blank=True in DRF, so the schema's enums of these would
# leave out the "" they hold until the device first reports (issue #20).


class InstanceEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = InstanceEvent
        fields = ["status", "health_status", "description", "time"]
        read_only_fields = fields


class NodeInstanceSerializer(serializers.ModelSerializer):
    signal = serializers.ChoiceField(
        choices=NodeSignalValue.choices,
        allow_blank=True,
        read_only=True,
        help_text="The signal last sent to this camera node; empty when none was.",
    )

    class Meta:
        model = NodeInstance
        fields = [
            "node_instance_id",
            "node_id",
            "package_name",
            "package_version",
            "patch_version",
            "node_name",
            "launch",
            "signal",
            "current_status",
            "message",
        ]
        read_only_fields = fields


class ApplicationInstanceSerializer(serializers.ModelSerializer):
    device = serializers.SlugRelatedField(slug_field="device_id", read_only=True)
    # null without a role / for a first deployment; the schema must say so (issue #20).
    runtime_role = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    replaces = serializers.SlugRelatedField(
        slug_field="application_instance_id", read_only=True, allow_null=True
    )
    node_instances = NodeInstanceSerializer(many=True, read_only=True)
    events = InstanceEventSerializer(many=True, read_only=True)
    reported_status = serializers.ChoiceField(
        choices=DeviceReportedStatus.choices,
        allow_blank=True,
        read_only=True,
        help_text="What the device last reported for this instance; empty before its first report.",
    )

    class Meta:
        model = ApplicationInstance
        fields = [
            "id",
            "application_instance_id",
            "name",
            "description",
            "device",
            "status",
            "health_status",
            "status_description",
            "desired_state",
            "reported_status",
            "runtime_role",
            "replaces",
            "tags",
            "memory_limit_mib",
            "cpu_limit",
            "manifest_payload",
            "overrides_payload",
            "node_instances",
            "events",
            "created",
            "updated",
        ]
        read_only_fields = fields


class DeploySerializer(serializers.Serializer):
    """What a deployment needs: the same as the wizard, and as Panorama's
    CreateApplicationInstance (ManifestPayload, ManifestOverridesPayload)."""

    name = serializers.RegexField(r"^[a-zA-Z0-9_-]+$", max_length=255)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    device = serializers.SlugRelatedField(slug_field="device_id", queryset=Device.objects.all())
    manifest_payload = serializers.CharField(max_length=51200, trim_whitespace=False)
    manifest_overrides_payload = serializers.CharField(
        max_length=51200, required=False, allow_blank=True, trim_whitespace=False
    )
    runtime_role = serializers.SlugRelatedField(
        slug_field="name", queryset=RuntimeRole.objects.all(), required=False, allow_null=True
    )
    replaces = serializers.SlugRelatedField(
        slug_field="application_instance_id",
        queryset=ApplicationInstance.objects.all(),
        required=False,
        allow_null=True,
    )
    tags = serializers.DictField(child=serializers.CharField(max_length=256), required=False)
    memory_limit_mib = serializers.IntegerField(
        required=False, allow_null=True, min_value=MEMORY_LIMIT_MIB[0],
        max_value=MEMORY_LIMIT_MIB[1],
        help_text="Memory its code may use on the appliance, in MiB (default APP_MEMORY_LIMIT_MIB)",
    )  # fmt: skip
    cpu_limit = serializers.FloatField(
        required=False, allow_null=True, min_value=CPU_LIMIT[0], max_value=CPU_LIMIT[1],
        help_text="CPUs its code may use on the appliance (default: APP_CPU_LIMIT, 0: no limit)",
    )  # fmt: skip


class NodeSignalSerializer(serializers.Serializer):
    node_instance_id = serializers.CharField(max_length=128)
    signal = serializers.ChoiceField(choices=["PAUSE", "RESUME"])


class NodeSignalsSerializer(serializers.Serializer):
    node_signals = NodeSignalSerializer(many=True, allow_empty=False)
