"""Who is calling: verify an appliance's signed request (docs/protocol.md, "Signed requests").

Used by the agent-facing HTTP views and by the link's WebSocket handshake. Refusals are
``devicelink.auth.AuthError`` with the status (401/403) and a sentence the agent logs.
"""

from __future__ import annotations

from core.sharedcache import shared_cache
from devicelink.auth import MAX_SKEW_S, AuthError, parse_authorization, verify_claim
from devices.models import DeletedDevice, Device


def deleted_message(tombstone: DeletedDevice) -> str:
    return (
        f"Device {tombstone.name} ({tombstone.device_id}) was deleted from the console on "
        f"{tombstone.deleted_at:%Y-%m-%d %H:%M UTC}; its credentials are revoked. Reset the "
        "appliance (python -m edge_agent reset --full) and set it up again."
    )


def refuse_unknown(device_id: str) -> AuthError:
    tombstone = DeletedDevice.objects.filter(device_id=device_id).first()
    if tombstone is not None:
        return AuthError(403, deleted_message(tombstone))
    return AuthError(401, f"No device {device_id} is registered on this console.")


def authenticate_device(header: str | None, method: str, path: str, body: bytes = b"") -> Device:
    """The device that signed this request, or AuthError."""
    claim = parse_authorization(header)
    device = Device.objects.filter(device_id=claim.device_id).first()
    if device is None:
        raise refuse_unknown(claim.device_id)
    if not device.public_key:
        raise AuthError(
            401, f"Device {device.name} has no credentials yet; provision it with its archive."
        )
    verify_claim(claim, device.public_key, method, path, body)
    # A nonce is remembered for as long as its timestamp could still pass the clock check.
    nonce_key = f"device-nonce:{claim.device_id}:{claim.nonce}"
    if not shared_cache().add(nonce_key, 1, 2 * MAX_SKEW_S + 5):
        raise AuthError(401, "This signed request was already used (replayed); sign a new one.")
    return device
