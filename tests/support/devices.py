"""Appliances as rows of the console's database (Django): the one place tests create a
``Device``; ``make_device`` takes the fields as given, the others start from a state the
appliance would be in (provisioned, online)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from core.status import DeviceConnectionStatus, DeviceStatus
from devicelink import auth
from devices.models import (
    Device,
    ProvisioningCredential,
    SoftwareImage,
    hash_token,
)


def make_device(name: str = "lobby-1", **fields) -> Device:
    """A device row with just these fields (the model's defaults for the others)."""
    return Device.objects.create(name=name, **fields)


def connected_device(name: str = "lobby-1", **fields) -> Device:
    """Set up and online from this machine (an agent without a seal key: its secrets travel in
    clear, devices/secrets.py), nothing more (no heartbeat, lease or software reported)."""
    defaults = {
        "provisioning_status": "SUCCEEDED",
        "connection_status": "ONLINE",
        "link_transport": "loopback",
    }
    return make_device(name, **{**defaults, **fields})


NETWORK_STATUS = {
    "Ethernet0Status": {
        "IpAddress": "192.168.0.10/24",
        "ConnectionStatus": "CONNECTED",
        "HwAddress": "8e:0f:aa:bb:cc:dd",
        "InterfaceName": "eth0",
    },
    "Ethernet1Status": {"IpAddress": "--", "ConnectionStatus": "NOT_CONNECTED", "HwAddress": "--"},
    "NtpStatus": {
        "ConnectionStatus": "CONNECTED",
        "IpAddress": "162.159.200.1",
        "NtpServerName": "pool.ntp.org",
    },
}


def online_device(name: str = "lobby-1", **fields) -> Device:
    defaults = {
        "provisioning_status": DeviceStatus.SUCCEEDED,
        "connection_status": DeviceConnectionStatus.ONLINE,
        "current_software": "1.0.0",
        "serial_number": "123456789012",
        "public_key": "UHVibGljS2V5T2ZUaGVEZXZpY2UtTm90VG9CZVNob3du",
        "last_heartbeat_at": timezone.now(),
        "lease_expires_at": timezone.now() + timedelta(seconds=30),
        "link_transport": "loopback",
    }
    return make_device(name, **{**defaults, **fields})


def image(version: str, required: bool = False) -> SoftwareImage:
    major, minor, patch = (int(part) for part in version.split("."))
    return SoftwareImage.objects.create(
        version=version, major=major, minor=minor, patch=patch, required=required,
        sha256="0" * 64, size=1, signature="sig",
    )  # fmt: skip


# --- provisioning ---------------------------------------------------------------------------


def new_credential(device: Device, *, ttl_s: int = 300) -> tuple[ProvisioningCredential, str]:
    token = secrets.token_urlsafe(32)
    credential = ProvisioningCredential.objects.create(
        device=device,
        token_hash=hash_token(token),
        expires_at=timezone.now() + timedelta(seconds=ttl_s),
    )
    return credential, token


def provision_body(
    device: Device,
    credential: ProvisioningCredential,
    token: str,
    key: Ed25519PrivateKey,
    **extra: object,
) -> dict:
    return {
        "device_id": device.device_id,
        "credential_id": credential.credential_id,
        "provisioning_token": token,
        "public_key": auth.public_key_b64(key),
        "proof": auth.sign_provision_proof(key, device.device_id, credential.credential_id),
        "serial_number": "123456789012",
        "software_version": "1.0.0",
        "network_status": {
            "Ethernet0Status": {
                "IpAddress": "192.168.0.10/24",
                "ConnectionStatus": "CONNECTED",
                "HwAddress": "8e:0f:aa:bb:cc:dd",
            }
        },
        **extra,
    }


def provisioned_device(name: str = "lobby-1") -> tuple[Device, Ed25519PrivateKey]:
    """A device as it is after provisioning: its public key stored."""
    key = auth.generate_private_key()
    device = make_device(name, public_key=auth.public_key_b64(key))
    device.provisioning_status = "PENDING"
    device.provisioned_at = timezone.now()
    device.save()
    return device, key
