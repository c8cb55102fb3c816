"""Who is calling: verify an appliance's signed request (docs/protocol.md, "Signed requests").

Used by the agent-facing HTTP views and by the link's WebSocket handshake. Refusals are
``devicelink.auth.AuthError`` with the status (401/403) and a sentence the agent logs.
"""

from __future__ import annotations

import time

from django.db import connection, transaction

from core.transactions import commit_asynchronously
from devicelink.auth import MAX_SKEW_S, AuthError, parse_authorization, verify_claim
from devices.models import DeletedDevice, Device, UsedNonce


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


def authenticate_device(
    header: str | None,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    max_skew_s: int = MAX_SKEW_S,
) -> Device:
    """The device that signed this request, or AuthError."""
    claim = parse_authorization(header)
    device = Device.objects.filter(device_id=claim.device_id).first()
    if device is None:
        raise refuse_unknown(claim.device_id)
    if not device.public_key:
        raise AuthError(
            401, f"Device {device.name} has no credentials yet; provision it with its archive."
        )
    verify_claim(claim, device.public_key, method, path, body, max_skew_s=max_skew_s)
    remember_nonce(device, claim.nonce, claim.ts)
    return device


def remember_nonce(device: Device, nonce: str, ts: int) -> None:
    """AuthError if ``nonce`` was used before. Nonces are kept in the database for as long as
    their timestamp could pass the clock check (``forget_old_nonces``), so a replay stays
    refused across a restart of the cache or the console (a captured link login must not be
    accepted twice)."""
    table = UsedNonce._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # A fleet logging in at once must not wait on a disk flush per login; one statement
        # that says whether the nonce was new (no savepoint, no exception to unwind).
        commit_asynchronously()
        cursor.execute(
            f"INSERT INTO {table} (device_id, nonce, ts) VALUES (%s, %s, %s) "  # noqa: S608
            "ON CONFLICT DO NOTHING RETURNING id",
            [device.pk, nonce, ts],
        )
        inserted = cursor.fetchone() is not None
    if not inserted:
        raise AuthError(401, "This signed request was already used (replayed); sign a new one.")


def forget_old_nonces(now: float | None = None) -> int:
    """Drop the nonces whose timestamp can no longer pass the clock check (by beat)."""
    cutoff = int(time.time() if now is None else now) - 2 * MAX_SKEW_S
    deleted, _ = UsedNonce.objects.filter(ts__lt=cutoff).delete()
    return deleted
