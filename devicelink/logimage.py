"""Offline log images: ``panorama_device_log_v1_dd_hh_mm.img`` on the USB drive.

An appliance that cannot reach its console writes its logs, encrypted to the console's log
public key (X25519 + HKDF-SHA256 + AES-256-GCM, the construction of ``devicelink.sealing``), so
that only the console that provisioned it can read them. Layout: the magic line, the ephemeral
public key (32 bytes), the nonce (12 bytes), then the ciphertext of a gzip'd JSON document
``{"device_id", "created", "entries": [...]}``.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from devicelink.sealing import decrypt_with, encrypt_to, raw_public

MAGIC = b"VANTAGE-LOG-IMAGE-1\n"
MAX_IMAGE_BYTES = 64 * 1024 * 1024
_INFO = b"vantage log image v1"


class LogImageError(Exception):
    pass


def image_name(when: datetime) -> str:
    return f"panorama_device_log_v1_{when:%d_%H_%M}.img"


def public_key_b64(key: X25519PrivateKey) -> str:
    return base64.b64encode(raw_public(key)).decode()


def encrypt_log_image(public_key: str, device_id: str, entries: list[dict[str, Any]]) -> bytes:
    try:
        recipient = X25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
    except (ValueError, binascii.Error):
        raise LogImageError("the console's log public key is not a base64 X25519 key") from None
    document = {
        "device_id": device_id,
        "created": datetime.now(UTC).isoformat(),
        "entries": entries,
    }
    plaintext = gzip.compress(json.dumps(document).encode())
    return MAGIC + encrypt_to(recipient, plaintext, info=_INFO, aad=MAGIC)


def decrypt_log_image(private_key: X25519PrivateKey, data: bytes) -> dict[str, Any]:
    if len(data) > MAX_IMAGE_BYTES:
        raise LogImageError("The file is larger than a log image can be (64 MiB).")
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 44 + 16:
        raise LogImageError("The file is not a Vantage device log image.")
    try:
        plaintext = decrypt_with(private_key, data[len(MAGIC) :], info=_INFO, aad=MAGIC)
    except ValueError:
        raise LogImageError("The log image's header is damaged.") from None
    except InvalidTag:
        raise LogImageError(
            "The log image was not written for this console, or it was changed after it was "
            "written."
        ) from None
    try:
        document = json.loads(gzip.decompress(plaintext))
    except (OSError, ValueError):
        raise LogImageError("The log image's content is damaged.") from None
    if not isinstance(document, dict) or not isinstance(document.get("entries"), list):
        raise LogImageError("The log image's content is not a log document.")
    return document
