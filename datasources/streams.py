"""Camera stream URLs: what is allowed, and keeping credentials out of them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError

ALLOWED_SCHEMES = ("rtsp", "rtsps", "file")
# Query keys some cameras take credentials in; they would be stored and shown in plaintext.
SECRET_QUERY_KEYS = {"password", "passwd", "pwd", "pass", "user", "username", "usr"}


def split_credentials(url: str) -> tuple[str, str, str]:
    """``rtsp://user:pass@host/path`` → (``rtsp://host/path``, ``user``, ``pass``)."""
    parts = urlsplit(url.strip())
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url.strip(), "", ""
    # The host and port stay as typed: validate_stream_url judges them afterwards.
    username, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return clean, unquote(username), unquote(password)


def endpoint(url: str) -> tuple[str, str]:
    """What saved credentials are bound to: the scheme and the host:port they are sent to."""
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.rpartition("@")[2].lower()


def media_folders() -> list[Path]:
    return [Path(folder).resolve() for folder in settings.TEST_MEDIA_DIRS]


def validate_stream_url(url: str) -> None:
    """Raise a ValidationError that says what is wrong with a stream URL and what is allowed."""
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in url):
        raise ValidationError(
            "The URL contains spaces or control characters; remove them.", code="characters"
        )
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES:
        raise ValidationError(
            f"The URL must start with rtsp://, rtsps:// or file:// (a recorded test video); "
            f"got {parts.scheme + '://' if parts.scheme else 'no scheme'}.",
            code="scheme",
        )
    if parts.scheme == "file":
        _validate_file_source(parts.path, parts.netloc)
        return
    if not parts.hostname:
        raise ValidationError(
            "The URL names no camera host, e.g. rtsp://192.168.0.20:554/stream1.", code="host"
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ValidationError("The port in the URL is not a number from 1 to 65535.", code="port")
    secret_keys = sorted(
        {key for key, _ in parse_qsl(parts.query) if key.lower() in SECRET_QUERY_KEYS}
    )
    if secret_keys:
        raise ValidationError(
            f"The URL carries credentials in its query ({', '.join(secret_keys)}); remove them "
            "and use the user name and password fields, which are stored encrypted.",
            code="query_credentials",
        )


def _validate_file_source(path: str, netloc: str) -> None:
    if not path.startswith("/") or netloc not in ("", "localhost"):
        raise ValidationError(
            "A file:// URL needs an absolute path, e.g. file:///srv/videos/lobby.mp4.",
            code="file_path",
        )
    resolved = Path(unquote(path)).resolve()
    folders = media_folders()
    if not any(resolved.is_relative_to(folder) for folder in folders):
        raise ValidationError(
            "Recorded test videos must be in one of the media folders: "
            f"{', '.join(str(f) for f in folders)} (TEST_MEDIA_DIRS).",
            code="file_folder",
        )


def normalize_stream_input(url: str, username: str, password: str) -> tuple[str, str, str]:
    """The URL without credentials, and the credentials to save, for the form and the API.

    Credentials may be typed into the URL or into the fields, not both.
    """
    clean, url_user, url_password = split_credentials(url)
    validate_stream_url(clean)
    if url_user or url_password:
        if username or password:
            raise ValidationError(
                "Credentials are both in the URL and in the user name/password fields; keep one.",
                code="credentials_twice",
            )
        return clean, url_user, url_password
    return clean, username, password
