"""Encryption of stored secrets (camera credentials, later device and runtime-role secrets).

Values are encrypted with Fernet (AES-128-CBC with HMAC-SHA256) under ``CREDENTIALS_KEY``: one
key, or a comma-separated list whose first key encrypts and all of which decrypt, so that a key
can be rotated without downtime: put the new key first, run ``manage.py rotate_credentials_key``
(re-encrypts everything under the first key), then drop the old key. With no key configured, one
is generated once and kept in ``var/credentials_key`` (mode 0600), like SECRET_KEY.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core import env


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def _load_keys(var_dir: Path) -> list[bytes]:
    value = env.get_str("CREDENTIALS_KEY", "")
    if value:
        keys = [k.strip().encode() for k in value.split(",") if k.strip()]
    else:
        key_file = var_dir / "credentials_key"
        if key_file.exists():
            keys = [key_file.read_bytes().strip()]
        else:
            keys = [env.create_once(key_file, Fernet.generate_key())]
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"CREDENTIALS_KEY: key #{index + 1} is not a Fernet key (32 url-safe "
                "base64-encoded bytes); make one with: .venv/bin/python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None
    return keys


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in _load_keys(Path(settings.VAR_DIR))])


def check_keys() -> None:
    _fernet()


def reset_key_cache() -> None:
    """Forget the loaded keys (after the configuration changed, e.g. in tests)."""
    _fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a stored secret cannot be decrypted with CREDENTIALS_KEY; was the key replaced "
            "without keeping the old one in the list?"
        ) from None


def reencrypt(token: str) -> str:
    """The same secret, encrypted under the first (current) key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be decrypted with CREDENTIALS_KEY") from None
