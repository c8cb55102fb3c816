"""Devices, jobs and software images over the API. Nothing here ever carries a credential:
no provisioning token (except inside the archive a create or archive call returns), no device
public key, no signing key."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from pydantic import ValidationError as PydanticError
from rest_framework import serializers

from core.status import JobType
from core.tags import validate_tags
from core.validators import resource_name_validator
from devicelink.network import NetworkPayload
from devices.models import Device, DeviceJob, DeviceJobEvent, SoftwareImage


def _tags(value) -> dict[str, str]:
    if not isinstance(value, dict):
        raise serializers.ValidationError("Tags are an object of key: value strings.")
    try:
        return validate_tags(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None


class DeviceSerializer(serializers.ModelSerializer):
    aggregated_status = serializers.CharField(read_only=True, source="aggregated")
    tags = serializers.DictField(child=serializers.CharField(allow_blank=True), read_only=True)
    networking = serializers.JSONField(
        source="network_config",
        read_only=True,
        help_text="The network settings the device was set up with (Panorama's NetworkPayload).",
    )
    network_status = serializers.JSONField(
        read_only=True, help_text="CurrentNetworkingStatus, as the appliance last reported it."
    )
    health = serializers.JSONField(read_only=True, help_text="From the last heartbeat.")
    latest_software = serializers.SerializerMethodField()
    application_count = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "id", "device_id", "name", "description", "tags", "device_type", "brand",
            "serial_number", "accelerators", "provisioning_status", "connection_status",
            "aggregated_status",
            "current_software", "latest_software", "update_needed", "networking",
            "network_status", "network_updated", "health", "last_heartbeat_at",
            "lease_expires_at", "provisioned_at", "application_count", "created", "updated",
        ]  # fmt: skip
        read_only_fields = fields

    def get_latest_software(self, device: Device) -> str | None:
        latest = self.context.get("latest_software")
        return latest.version if latest else None

    def get_application_count(self, device: Device) -> int:
        annotated = getattr(device, "application_count", None)
        return annotated if annotated is not None else device.application_instances.count()


class DeviceCreateSerializer(serializers.Serializer):
    """Panorama's ProvisionDevice: name, description, tags and networking."""

    name = serializers.CharField(max_length=255, validators=[resource_name_validator])
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    tags = serializers.JSONField(required=False, help_text="Up to 50 key: value strings.")
    networking = serializers.JSONField(
        required=False,
        help_text="NetworkPayload: Ethernet0, Ethernet1 (ConnectionType DHCP or STATIC_IP with "
        "StaticIpConnectionInfo) and Ntp.NtpServers. Default: DHCP, pool.ntp.org.",
    )

    def validate_tags(self, value) -> dict[str, str]:
        return _tags(value)

    def validate_networking(self, value) -> dict:
        try:
            return NetworkPayload.model_validate(value or {}).model_dump()
        except PydanticError as exc:
            messages = []
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "networking"
                message = str(error.get("ctx", {}).get("error") or error["msg"])
                messages.append(f"{where}: {message}")
            raise serializers.ValidationError(messages) from None


class DeviceUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)
    tags = serializers.JSONField(required=False)
    name = serializers.CharField(required=False)

    def validate_tags(self, value) -> dict[str, str]:
        return _tags(value)

    def validate_name(self, value: str) -> str:
        if self.instance is not None and value != self.instance.name:
            raise serializers.ValidationError("The name cannot change; it identifies the device.")
        return value


class ArchiveSerializer(serializers.Serializer):
    archive_name = serializers.CharField(help_text="certificates-omni_<name>.zip")
    certificates = serializers.CharField(
        help_text="The configuration archive, base64. Copy it to the root of the USB drive."
    )
    credential_id = serializers.CharField()
    expires_at = serializers.DateTimeField(
        help_text="The archive's one-time credential works until then (5 minutes)."
    )


class ProvisionedDeviceSerializer(DeviceSerializer):
    """The created device with its first archive (like ProvisionDevice's Certificates)."""

    archive_name = serializers.CharField(read_only=True)
    certificates = serializers.CharField(read_only=True)
    credential_id = serializers.CharField(read_only=True)
    expires_at = serializers.DateTimeField(read_only=True)

    class Meta(DeviceSerializer.Meta):
        fields = [*DeviceSerializer.Meta.fields, "archive_name", "certificates",
                  "credential_id", "expires_at"]  # fmt: skip
        read_only_fields = fields


class DeviceJobEventSerializer(serializers.ModelSerializer):
    # A plain string in the schema: one enum per property name keeps the schema's enum names
    # readable (the job's own ``status`` documents the values).
    status = serializers.CharField(read_only=True, help_text="An UpdateProgress value.")

    class Meta:
        model = DeviceJobEvent
        fields = ["status", "reason", "time"]
        read_only_fields = fields


class DeviceJobSerializer(serializers.ModelSerializer):
    device_id = serializers.CharField(source="device.device_id", read_only=True)
    device_name = serializers.CharField(source="device.name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    events = DeviceJobEventSerializer(many=True, read_only=True)

    class Meta:
        model = DeviceJob
        fields = [
            "job_id", "device_id", "device_name", "job_type", "image_version",
            "allow_major_version_update", "status", "reason", "created_by", "created",
            "updated", "events",
        ]  # fmt: skip
        read_only_fields = fields


class DeviceJobCreateSerializer(serializers.Serializer):
    """Panorama's CreateJobForDevices."""

    device_ids = serializers.ListField(
        child=serializers.CharField(max_length=40), min_length=1, max_length=500
    )
    job_type = serializers.ChoiceField(choices=JobType.choices)
    image_version = serializers.CharField(
        max_length=20, required=False, allow_blank=True, help_text="OTA: the version to install."
    )
    allow_major_version_update = serializers.BooleanField(required=False, default=False)

    def validate_device_ids(self, value: list[str]) -> list[Device]:
        ids = list(dict.fromkeys(value))
        devices = {device.device_id: device for device in Device.objects.filter(device_id__in=ids)}
        unknown = [device_id for device_id in ids if device_id not in devices]
        if unknown:
            raise serializers.ValidationError(f"No such device: {', '.join(unknown)}.")
        return [devices[device_id] for device_id in ids]


class SoftwareImageSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True, default=None)

    class Meta:
        model = SoftwareImage
        fields = ["version", "required", "notes", "size", "sha256", "signature", "uploaded_by",
                  "created"]  # fmt: skip
        read_only_fields = fields


class SoftwareImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The agent release bundle (.tar.gz).")
    version = serializers.CharField(
        max_length=20,
        required=False,
        allow_blank=True,
        help_text="Leave out to take the bundle's own version; if given it must equal it.",
    )
    notes = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    required = serializers.BooleanField(required=False, default=False)
