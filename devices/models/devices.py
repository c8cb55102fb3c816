"""Appliances: identity, provisioning, the state their link reports, and their credentials."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from django.db import models
from django.db.models import Case, Q, Value, When
from django.utils import timezone

from core.ids import new_device_id
from core.status import (
    DeviceAggregatedStatus,
    DeviceBrand,
    DeviceConnectionStatus,
    DeviceStatus,
    DeviceType,
)
from core.validators import resource_name_validator


class LinkTransport(models.TextChoices):
    TLS = "tls", "Encrypted (TLS)"
    LOOPBACK = "loopback", "This machine"
    PLAIN = "plain", "Unencrypted (ws://)"


class DeviceQuerySet(models.QuerySet):
    def with_aggregated_status(self) -> DeviceQuerySet:
        """Annotate ``aggregated``, the DeviceAggregatedStatus, for filters and counts in SQL."""
        return self.annotate(aggregated=aggregated_status_expression())


# The rules, first match wins: provisioning problems before connection state; a rebooting
# device is REBOOTING even while its link is down; an online device with a required update
# waiting is UPDATE_NEEDED. One table serves the SQL annotation and the Python property.
_AGGREGATION_RULES: list[tuple[str, object, str]] = [
    ("provisioning_status", DeviceStatus.DELETING, DeviceAggregatedStatus.DELETING),
    ("provisioning_status", DeviceStatus.ERROR, DeviceAggregatedStatus.ERROR),
    ("provisioning_status", DeviceStatus.FAILED, DeviceAggregatedStatus.FAILED),
    (
        "provisioning_status",
        DeviceStatus.AWAITING_PROVISIONING,
        DeviceAggregatedStatus.AWAITING_PROVISIONING,
    ),
    ("provisioning_status", DeviceStatus.PENDING, DeviceAggregatedStatus.PENDING),
    ("connection_status", DeviceConnectionStatus.ERROR, DeviceAggregatedStatus.ERROR),
    ("activity", "REBOOTING", DeviceAggregatedStatus.REBOOTING),
    ("connection_status", DeviceConnectionStatus.OFFLINE, DeviceAggregatedStatus.OFFLINE),
    ("update_needed", True, DeviceAggregatedStatus.UPDATE_NEEDED),
    ("connection_status", DeviceConnectionStatus.ONLINE, DeviceAggregatedStatus.ONLINE),
]
_AGGREGATION_DEFAULT = DeviceAggregatedStatus.OFFLINE


def aggregated_status_expression() -> Case:
    return Case(
        *(
            When(**{field: value}, then=Value(result))
            for field, value, result in _AGGREGATION_RULES
        ),
        default=Value(_AGGREGATION_DEFAULT),
        output_field=models.CharField(),
    )


class Device(models.Model):
    device_id = models.CharField(max_length=40, unique=True, default=new_device_id, editable=False)
    name = models.CharField(max_length=255, unique=True, validators=[resource_name_validator])
    description = models.CharField(max_length=255, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    device_type = models.CharField(
        max_length=40, choices=DeviceType.choices, default=DeviceType.PANORAMA_APPLIANCE
    )
    brand = models.CharField(
        max_length=20, choices=DeviceBrand.choices, default=DeviceBrand.AWS_PANORAMA
    )
    serial_number = models.CharField(max_length=20, blank=True)
    # The inference accelerators the appliance reported in its last hello ("nvidia", "jetson"):
    # applications whose packages ask for GPU access deploy only where there is one.
    accelerators = models.JSONField(default=list, blank=True)
    provisioning_status = models.CharField(
        max_length=32, choices=DeviceStatus.choices, default=DeviceStatus.AWAITING_PROVISIONING
    )
    connection_status = models.CharField(
        max_length=32,
        choices=DeviceConnectionStatus.choices,
        default=DeviceConnectionStatus.AWAITING_CREDENTIALS,
    )
    # What the setup wizard asked for (NetworkPayload) and what the appliance last reported
    # (CurrentNetworkingStatus), both as Panorama shapes them.
    network_config = models.JSONField(default=dict, blank=True)
    network_status = models.JSONField(default=dict, blank=True)
    network_updated = models.DateTimeField(null=True, blank=True)
    current_software = models.CharField(max_length=20, blank=True)
    # Set while a job keeps the device busy ("REBOOTING"); empty otherwise.
    activity = models.CharField(max_length=20, blank=True)
    update_needed = models.BooleanField(default=False)
    # The device's credential: the public half of the key pair the agent generated.
    public_key = models.CharField(max_length=64, blank=True)
    # The X25519 key the device vouched for (signed with its identity key) in its last hello:
    # what its secrets are sealed to (devicelink.sealing). Empty: its agent cannot open them.
    seal_key = models.CharField(max_length=64, blank=True)
    # How its link connected last: over TLS, from this machine (loopback), or in plain
    # ws:// from elsewhere; and from which address.
    link_transport = models.CharField(max_length=10, choices=LinkTransport.choices, blank=True)
    link_address = models.CharField(max_length=64, blank=True)
    # The operator's explicit leave to send secrets over a plain ws:// link from another
    # machine (sealed all the same): without it they are withheld there (devices/secrets.py).
    allow_plain_link_secrets = models.BooleanField(default=False)
    provisioned_at = models.DateTimeField(null=True, blank=True)
    # The link: lease and health from heartbeats; which connection is current; reports stored.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    health = models.JSONField(default=dict, blank=True)
    link_session = models.CharField(max_length=32, blank=True)
    last_report_seq = models.BigIntegerField(default=0)
    # Desired state: bumped whenever what the device should do changes; the agent reports
    # the version it applied.
    desired_version = models.PositiveIntegerField(default=0)
    applied_version = models.PositiveIntegerField(default=0)
    job_counter = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_provisioned(self) -> bool:
        return self.provisioning_status == DeviceStatus.SUCCEEDED

    @property
    def aggregated_status(self) -> str:
        """DeviceAggregatedStatus: what the device list and the dashboard show."""
        for field, value, result in _AGGREGATION_RULES:
            if getattr(self, field) == value:
                return result
        return _AGGREGATION_DEFAULT


# What the device link writes: the appliance's own reports and the link's bookkeeping (a
# connection, a lease, a heartbeat, a report stored). None of it is an operator's action, so
# the audit log leaves these out (console/audit.py), and the link writes them with UPDATEs that
# fire no model signals: a fleet reconnecting must not cost an audit row and a dashboard
# recount per device.
LINK_FIELDS = (
    "serial_number",
    "accelerators",
    "seal_key",
    "link_transport",
    "link_address",
    "connection_status",
    "network_status",
    "network_updated",
    "current_software",
    "activity",
    "update_needed",
    "lease_expires_at",
    "last_heartbeat_at",
    "health",
    "link_session",
    "last_report_seq",
    "desired_version",
    "applied_version",
    "updated",
)


def new_credential_id() -> str:
    return uuid.uuid4().hex


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ProvisioningCredential(models.Model):
    """The one-time credential inside a configuration archive; only its hash is kept.

    A new archive supersedes the device's earlier ones; a credential is good once, for
    ``PROVISIONING_CREDENTIAL_TTL_S`` seconds.
    """

    credential_id = models.CharField(
        max_length=32, unique=True, default=new_credential_id, editable=False
    )
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="credentials")
    token_hash = models.CharField(max_length=64)
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.device} archive {self.credential_id[:8]}"

    def matches(self, token: str) -> bool:
        return hmac.compare_digest(self.token_hash, hash_token(token))

    @property
    def is_usable(self) -> bool:
        return (
            self.used_at is None and self.superseded_at is None and self.expires_at > timezone.now()
        )


class DeletedDevice(models.Model):
    """A tombstone: the id of a deleted device stays refused, with a message that says why."""

    device_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=255)
    deleted_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} ({self.device_id}, deleted)"


class UsedNonce(models.Model):
    """A signed request's nonce, kept while its timestamp could still pass the clock check.

    In the database, not the cache: a replay must stay refused when the cache is lost
    (devices/agent_auth.py). Rows older than the window are deleted by beat.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=32)
    ts = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["device", "nonce"], name="device_nonce_once"),
        ]
        indexes = [models.Index(fields=["ts"], name="usednonce_ts")]

    def __str__(self) -> str:
        return f"nonce {self.nonce} at {self.ts}"


def active_devices_q() -> Q:
    return ~Q(provisioning_status=DeviceStatus.DELETING)
