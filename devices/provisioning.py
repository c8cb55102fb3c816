"""Setting up an appliance: creating its record, the configuration archive, the setup state.

The archive (``certificates-omni_<name>.zip``) is generated when it is downloaded and handed out
at once; the console keeps only the hash of the one-time provisioning token inside it, so a lost
archive cannot be downloaded again, only replaced by a new one (which supersedes the old).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import groups
from core.errors import QuotaExceeded
from core.live import request_resync
from core.status import DeviceStatus
from devicelink import PROVISIONING_CREDENTIAL_TTL_S
from devicelink.archive import DeviceArchive, archive_name, build_archive
from devicelink.network import NetworkPayload
from devices import keys
from devices.models import Device, ProvisioningCredential, hash_token


def quota_message() -> str:
    quota = settings.DEVICE_QUOTA
    return (
        f"You have {quota} devices, the most this installation allows (DEVICE_QUOTA). "
        "Delete one or raise the quota."
    )


def check_quota() -> None:
    """QuotaExceeded when no further device may be created."""
    if Device.objects.count() >= settings.DEVICE_QUOTA:
        raise QuotaExceeded(quota_message(), "DEVICE_QUOTA")


def name_taken_message(name: str) -> str:
    return f"A device named {name} exists already. Names are unique; pick another one."


def create_device(
    *,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
    network: dict[str, Any] | None = None,
) -> Device:
    """Create a device awaiting provisioning; QuotaExceeded, or ValidationError for a taken
    name.

    ``network`` is a NetworkPayload dict (validated again here, so API and wizard agree).
    """
    payload = NetworkPayload.model_validate(network or {}).model_dump()
    with transaction.atomic():
        check_quota()
        if Device.objects.filter(name=name).exists():
            raise ValidationError({"name": name_taken_message(name)}, code="unique")
        try:
            with transaction.atomic():
                device = Device.objects.create(
                    name=name,
                    description=description,
                    tags=dict(tags or {}),
                    network_config=payload,
                    provisioning_status=DeviceStatus.AWAITING_PROVISIONING,
                )
            # Open device lists have no row for it yet.
            request_resync(groups.FLEET)
            return device
        except IntegrityError:
            # Another request created the same name between the check and the insert.
            raise ValidationError({"name": name_taken_message(name)}, code="unique") from None


def _ca_pem() -> bytes | None:
    if not settings.CONSOLE_CA_FILE:
        return None
    return Path(settings.CONSOLE_CA_FILE).read_bytes()


def issue_archive(device: Device) -> tuple[bytes, ProvisioningCredential]:
    """A new configuration archive for ``device``, superseding its unused earlier ones.

    The token is only ever in the returned bytes; the database keeps its sha256.
    ValidationError for a device that is set up already: its credential is its own key now.
    """
    if device.provisioning_status in (DeviceStatus.SUCCEEDED, DeviceStatus.DELETING):
        raise ValidationError(
            f"{device.name} is set up already; an archive is only for setting a device up. To "
            "register the appliance again, delete the device and set it up anew.",
            code="provisioned",
        )
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        device.credentials.filter(used_at__isnull=True, superseded_at__isnull=True).update(
            superseded_at=now
        )
        credential = ProvisioningCredential.objects.create(
            device=device,
            token_hash=hash_token(token),
            created=now,
            expires_at=now + timedelta(seconds=PROVISIONING_CREDENTIAL_TTL_S),
        )
    config = DeviceArchive(
        console_url=settings.CONSOLE_URL,
        device_id=device.device_id,
        device_name=device.name,
        provisioning_token=token,
        credential_id=credential.credential_id,
        expires_at=credential.expires_at,
        network=NetworkPayload.model_validate(device.network_config or {}),
        release_public_key=keys.release_public_key(),
        log_public_key=keys.log_public_key(),
        heartbeat_s=settings.DEVICE_HEARTBEAT_S,
    )
    return build_archive(config, _ca_pem()), credential


def archive_filename(device: Device) -> str:
    return archive_name(device.name)


# Every step of the setup, in Panorama's words; the wizard and the setup page show the same.
SETUP_STEPS = [
    ("name", "Specify name"),
    ("configure", "Configure"),
    ("download", "Download file"),
    ("power", "Power on"),
    ("done", "Done"),
]


def step_list(current: str) -> list[dict]:
    """The step indicator: each step with whether it is done, current or to come."""
    order = [key for key, _label in SETUP_STEPS]
    index = order.index(current)
    return [
        {
            "key": key,
            "number": number,
            "label": label,
            "state": "done" if number - 1 < index else "current" if number - 1 == index else "todo",
        }
        for number, (key, label) in enumerate(SETUP_STEPS, start=1)
    ]


# --- where the setup of a device stands --------------------------------------------------------

# States of the setup page, in the order the user meets them.
DOWNLOAD = "download"  # no archive yet (or every archive was superseded without a new one)
WAITING = "waiting"  # an archive is out, unused and valid: power the appliance on
EXPIRED = "expired"  # the newest archive expired before the appliance used it
REGISTERING = "registering"  # the appliance presented its credential; the link is not up yet
CONNECTED = "connected"  # provisioned: the appliance connected
FAILED = "failed"  # provisioning failed or errored


@dataclass(frozen=True)
class SetupState:
    state: str
    credential: ProvisioningCredential | None

    @property
    def step(self) -> str:
        """The wizard step the state belongs to (for the step indicator)."""
        return {
            DOWNLOAD: "download",
            WAITING: "power",
            EXPIRED: "download",
            REGISTERING: "power",
            CONNECTED: "done",
            FAILED: "power",
        }[self.state]


def latest_credential(device: Device) -> ProvisioningCredential | None:
    return device.credentials.order_by("-created", "-id").first()


def setup_state(device: Device) -> SetupState:
    credential = latest_credential(device)
    status = device.provisioning_status
    if status == DeviceStatus.SUCCEEDED:
        return SetupState(CONNECTED, credential)
    if status == DeviceStatus.PENDING:
        return SetupState(REGISTERING, credential)
    if status in (DeviceStatus.FAILED, DeviceStatus.ERROR):
        return SetupState(FAILED, credential)
    if credential is None or credential.superseded_at is not None:
        return SetupState(DOWNLOAD, credential)
    if credential.used_at is not None:
        return SetupState(REGISTERING, credential)
    if credential.expires_at <= timezone.now():
        return SetupState(EXPIRED, credential)
    return SetupState(WAITING, credential)
