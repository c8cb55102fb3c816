"""Reading the console's configuration from environment variables.

Every value has an embedded default so that a fresh checkout runs with no configuration at all.
Secrets may also be given as ``<NAME>_FILE`` (a path to a file holding the value), the convention
of Docker and systemd credentials. A bad value stops the process at start with a message that
names the variable, what is wrong and what is allowed.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


def _raw(name: str) -> str | None:
    """The value of ``name``, or the content of the file named by ``<name>_FILE``."""
    value = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if value is not None and file_name:
        raise ImproperlyConfigured(f"{name}: set either {name} or {name}_FILE, not both.")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE: cannot read {file_name!r} ({exc.strerror})."
            ) from exc
    return value


def get_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def get_bool(name: str, default: bool = False) -> bool:
    value = _raw(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(
        f"{name}: {value!r} is not a boolean; use one of true/false, yes/no, on/off, 1/0."
    )


def get_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: {value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: {number} is too small; the minimum is {minimum}.")
    return number


def get_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = get_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}: {value!r} is not one of {', '.join(choices)}.")
    return value


def get_time_zone(name: str, default: str) -> str:
    value = get_str(name, default)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name}: {value!r} is not a time zone name; use one like UTC or Europe/Berlin."
        ) from None
    return value


def get_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None or value.strip() == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def get_url(name: str, default: str, *, schemes: tuple[str, ...]) -> str:
    value = get_str(name, default)
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ImproperlyConfigured(
            f"{name}: {value!r} is not a valid URL; expected "
            f"{' or '.join(s + '://' for s in schemes)}host[:port]."
        )
    return value.rstrip("/")


def get_secret_key(var_dir: Path) -> str:
    """SECRET_KEY from the environment, or one generated once and kept under ``var/``."""
    value = _raw("SECRET_KEY")
    if value:
        if len(value) < 50:
            raise ImproperlyConfigured("SECRET_KEY: too short; use at least 50 random characters.")
        return value
    key_file = var_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    return create_once(key_file, secrets.token_urlsafe(64).encode()).decode()


def create_once(path: Path, content: bytes) -> bytes:
    """Write ``content`` to ``path`` (mode 0600) unless it exists; return what the file holds.

    The file is written whole under a temporary name and then linked into place, so when
    several processes start at once exactly one wins and none reads a half-written file.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_bytes().strip()
        return content
    finally:
        os.unlink(temporary)


@dataclass(frozen=True)
class AssetStore:
    """Where package assets live: a local folder, or an S3 bucket and key prefix."""

    kind: str  # "file" or "s3"
    location: str  # folder path, or key prefix inside the bucket
    bucket: str = ""


def get_asset_store(var_dir: Path) -> AssetStore:
    value = get_str("ASSET_STORE", "")
    if not value:
        return AssetStore(kind="file", location=str(var_dir / "assets"))
    parts = urlsplit(value)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ImproperlyConfigured(
                f"ASSET_STORE: {value!r} names no bucket; expected s3://bucket/optional/prefix."
            )
        return AssetStore(kind="s3", bucket=parts.netloc, location=parts.path.strip("/"))
    if parts.scheme in {"", "file"}:
        path = Path(parts.path if parts.scheme == "file" else value)
        if not path.is_absolute():
            raise ImproperlyConfigured(
                f"ASSET_STORE: {value!r} is not an absolute folder path; "
                "use /absolute/path, file:///absolute/path or s3://bucket/prefix."
            )
        return AssetStore(kind="file", location=str(path))
    raise ImproperlyConfigured(
        f"ASSET_STORE: scheme {parts.scheme!r} is not supported; "
        "use a folder path, file:///path or s3://bucket/prefix."
    )
