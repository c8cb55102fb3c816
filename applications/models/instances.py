"""Application instances: one deployment of a manifest (with its overrides) to one device."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from core import crypto
from core.ids import new_application_instance_id
from core.status import (
    ApplicationInstanceHealthStatus,
    ApplicationInstanceStatus,
    DesiredState,
    DeviceReportedStatus,
    NodeInstanceStatus,
    NodeSignalValue,
)
from core.validators import resource_name_validator

Status = ApplicationInstanceStatus

# Statuses a deployment or removal ends in; the tools poll for these.
TERMINAL_STATUSES = (
    Status.DEPLOYMENT_SUCCEEDED,
    Status.DEPLOYMENT_FAILED,
    Status.DEPLOYMENT_ERROR,
    Status.REMOVAL_SUCCEEDED,
    Status.REMOVAL_FAILED,
)
# What StatusFilter's two "processing" values stand for.
PROCESSING_DEPLOYMENT = (
    Status.DEPLOYMENT_PENDING,
    Status.DEPLOYMENT_REQUESTED,
    Status.DEPLOYMENT_IN_PROGRESS,
)
PROCESSING_REMOVAL = (
    Status.REMOVAL_PENDING,
    Status.REMOVAL_REQUESTED,
    Status.REMOVAL_IN_PROGRESS,
)


# An instance in one of these states is gone from its device: it uses no slot, port or stream.
GONE_STATUSES = (Status.REMOVAL_SUCCEEDED, Status.DEPLOYMENT_FAILED, Status.DEPLOYMENT_ERROR)


def active_q(prefix: str = "") -> models.Q:
    """Instances that count against the device's quota and hold its ports (``prefix`` for a
    lookup through a relation, e.g. ``"application_instances__"``)."""
    return ~models.Q(**{f"{prefix}status__in": GONE_STATUSES}) & ~models.Q(
        **{f"{prefix}desired_state": DesiredState.REMOVED}
    )


class InstanceQuerySet(models.QuerySet):
    def active(self) -> InstanceQuerySet:
        return self.filter(active_q())


# What an appliance can apply as an instance's resource limits (memory_limit_mib, cpu_limit).
MEMORY_LIMIT_MIB = (64, 1024 * 1024)
CPU_LIMIT = (0.1, 256.0)


class ApplicationInstance(models.Model):
    application_instance_id = models.CharField(
        max_length=60, unique=True, default=new_application_instance_id, editable=False
    )
    name = models.CharField(max_length=255, validators=[resource_name_validator])
    description = models.CharField(max_length=255, blank=True)
    device = models.ForeignKey(
        "devices.Device", on_delete=models.PROTECT, related_name="application_instances"
    )
    status = models.CharField(
        max_length=32,
        choices=ApplicationInstanceStatus.choices,
        default=ApplicationInstanceStatus.DEPLOYMENT_PENDING,
    )
    health_status = models.CharField(
        max_length=32,
        choices=ApplicationInstanceHealthStatus.choices,
        default=ApplicationInstanceHealthStatus.NOT_AVAILABLE,
    )
    status_description = models.CharField(max_length=255, blank=True)
    # What was deployed, byte for byte (DescribeApplicationInstanceDetails returns it).
    manifest_payload = models.TextField(blank=True)
    overrides_payload = models.TextField(blank=True)
    runtime_role = models.ForeignKey(
        "applications.RuntimeRole",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="instances",
    )
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by"
    )
    tags = models.JSONField(default=dict, blank=True)
    # Resource limits of its code on the appliance; None: the installation's default
    # (APP_MEMORY_LIMIT_MIB, APP_CPU_LIMIT).
    memory_limit_mib = models.PositiveIntegerField(null=True, blank=True)
    cpu_limit = models.FloatField(null=True, blank=True)
    # The device side: what the console wants (RUNNING until removed), the resolved spec sent
    # (without camera credentials: those are added per device when the link sends it), its
    # generation, and what the device last reported.
    desired_state = models.CharField(
        max_length=10, choices=DesiredState.choices, default=DesiredState.RUNNING
    )
    spec = models.JSONField(default=dict, blank=True)
    generation = models.PositiveIntegerField(default=0)
    reported_status = models.CharField(
        max_length=24, choices=DeviceReportedStatus.choices, blank=True
    )
    reported_generation = models.PositiveIntegerField(default=0)
    reported_at = models.DateTimeField(null=True, blank=True)
    # When the current step started, for the deployment timeout.
    step_started = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    # --- the instance's place on its device: one rule each, used by pages, APIs and workflow --

    @property
    def removal_requested(self) -> bool:
        return self.desired_state == DesiredState.REMOVED

    @property
    def is_active(self) -> bool:
        """It holds its device's slot, host ports and streams (``active_q`` in Python)."""
        return not self.removal_requested and self.status not in GONE_STATUSES

    @property
    def is_removable(self) -> bool:
        """Remove applies: not asked to go yet, not removed, and not failed before the device
        ran it. A DEPLOYMENT_ERROR (the console's error) may be on its device: removable."""
        return not self.removal_requested and self.status not in (
            ApplicationInstanceStatus.REMOVAL_SUCCEEDED,
            ApplicationInstanceStatus.DEPLOYMENT_FAILED,
        )

    def host_ports(self) -> list[tuple[Any, str]]:
        """(host port, node) of every routing rule the instance uses: from its resolved spec,
        or, before the workflow resolved it, from its payloads as resolve() would read them
        (where a port may be anything: callers keep the ints)."""
        if self.spec:
            return [
                (rule["host_port"], rule["node"])
                for rule in self.spec.get("network_routing_rules") or []
            ]
        rules: list[Any] = []
        for text, key in ((self.overrides_payload, "nodeGraphOverrides"),
                          (self.manifest_payload, "nodeGraph")):  # fmt: skip
            try:
                body = (json.loads(text) if text.strip() else {}).get(key) or {}
            except (ValueError, AttributeError):
                body = {}
            rules = body.get("networkRoutingRules") or []
            if rules:
                break
        return [
            (rule.get("hostPort") or rule.get("containerPort"), rule.get("node", ""))
            for rule in rules
            if isinstance(rule, dict)
        ]


class InstanceEvent(models.Model):
    """One transition of an instance: the timeline on its page."""

    instance = models.ForeignKey(
        ApplicationInstance, on_delete=models.CASCADE, related_name="events"
    )
    status = models.CharField(max_length=32, choices=ApplicationInstanceStatus.choices)
    health_status = models.CharField(max_length=32, choices=ApplicationInstanceHealthStatus.choices)
    description = models.CharField(max_length=255, blank=True)
    time = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["time", "id"]

    def __str__(self) -> str:
        return f"{self.instance} {self.status}"


class NodeInstance(models.Model):
    """A node as used in an instance; NodeInstanceId is its name in the manifest or override."""

    instance = models.ForeignKey(
        ApplicationInstance, on_delete=models.CASCADE, related_name="node_instances"
    )
    node_instance_id = models.CharField(max_length=128)
    kind = models.CharField(max_length=10)
    node_id = models.CharField(max_length=255, blank=True)
    package_name = models.CharField(max_length=128, blank=True)
    package_version = models.CharField(max_length=20, blank=True)
    patch_version = models.CharField(max_length=64, blank=True)
    node_name = models.CharField(max_length=128, blank=True)  # the interface name
    launch = models.CharField(max_length=12, default="onAppStart")
    signal = models.CharField(max_length=10, choices=NodeSignalValue.choices, blank=True)
    data_source = models.ForeignKey(
        "datasources.DataSource",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="node_instances",
    )
    current_status = models.CharField(
        max_length=16, choices=NodeInstanceStatus.choices, default=NodeInstanceStatus.NOT_AVAILABLE
    )
    message = models.CharField(max_length=2000, blank=True)
    # A camera node's stream as it was deployed: the instance keeps running with it even if the
    # data source is edited or deleted (as in Panorama), and it is purged when the instance is
    # removed, so credentials live exactly as long as something uses them.
    stream_url = models.CharField(max_length=2048, blank=True)
    stream_username_encrypted = models.TextField(blank=True)
    stream_password_encrypted = models.TextField(blank=True)
    encrypted_fields = ("stream_username_encrypted", "stream_password_encrypted")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "node_instance_id"], name="unique_node_instance"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance}.{self.node_instance_id}"

    def stream_credentials(self) -> tuple[str, str]:
        return tuple(  # type: ignore[return-value]
            crypto.decrypt(value) if value else ""
            for value in (self.stream_username_encrypted, self.stream_password_encrypted)
        )

    def purge_stream(self) -> None:
        self.stream_url = ""
        self.stream_username_encrypted = self.stream_password_encrypted = ""


class RuntimeRole(models.Model):
    """Named, encrypted environment an application receives on the appliance (the seed's IAM
    role gives an application its AWS permissions; here it is credentials and settings)."""

    name = models.CharField(max_length=64, unique=True, validators=[resource_name_validator])
    description = models.CharField(max_length=255, blank=True)
    # JSON object of variable name → value, encrypted with core/crypto.py.
    environment_encrypted = models.TextField(blank=True)
    encrypted_fields = ("environment_encrypted",)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def environment(self) -> dict[str, str]:
        if not self.environment_encrypted:
            return {}
        return json.loads(crypto.decrypt(self.environment_encrypted))

    def set_environment(self, values: dict[str, str]) -> None:
        self.environment_encrypted = crypto.encrypt(json.dumps(values)) if values else ""
