"""Helpers for tests of the agent-facing side: devices with credentials and signed requests."""

from __future__ import annotations

import secrets
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.utils import timezone

from devicelink import auth
from devices.models import Device, ProvisioningCredential, hash_token


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
    device = Device.objects.create(name=name, public_key=auth.public_key_b64(key))
    device.provisioning_status = "PENDING"
    device.provisioned_at = timezone.now()
    device.save()
    return device, key
