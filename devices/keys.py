"""The console's own key pairs for its appliances.

- The **release key** (Ed25519) signs agent software images; appliances verify OTA bundles with
  its public half, which they receive in their configuration archive.
- The **log image key** (X25519) decrypts offline log images; appliances encrypt to its public
  half, so nobody but this console can read what they write to a USB drive.

Each comes from ``RELEASE_SIGNING_KEY`` / ``LOG_IMAGE_KEY`` (PEM, or ``<NAME>_FILE``), or is
generated once into the var folder (mode 0600), like SECRET_KEY. Replacing a key means every
appliance must be set up again with a new archive (see docs/configuration.md).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core import env
from devicelink import auth, logimage


def _load(name: str, filename: str, kind: type, generate) -> object:
    value = env.get_str(name, "")
    if value:
        pem = value.encode()
    else:
        path = Path(settings.VAR_DIR) / filename
        pem = (
            path.read_bytes()
            if path.exists()
            else env.create_once(path, auth.private_key_pem(generate()))
        )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: not a PEM private key.") from None
    if not isinstance(key, kind):
        raise ImproperlyConfigured(
            f"{name}: must be an {kind.__name__.removesuffix('PrivateKey')} key."
        )
    return key


@cache
def release_signing_key() -> Ed25519PrivateKey:
    return _load(  # type: ignore[return-value]
        "RELEASE_SIGNING_KEY",
        "release_signing_key.pem",
        Ed25519PrivateKey,
        Ed25519PrivateKey.generate,
    )


@cache
def log_image_key() -> X25519PrivateKey:
    return _load(  # type: ignore[return-value]
        "LOG_IMAGE_KEY", "log_image_key.pem", X25519PrivateKey, X25519PrivateKey.generate
    )


def release_public_key() -> str:
    return auth.public_key_b64(release_signing_key())


def log_public_key() -> str:
    return logimage.public_key_b64(log_image_key())


def check_keys() -> None:
    release_signing_key()
    log_image_key()
