"""Camera stream URLs: what is allowed, and keeping credentials out of them."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from django.core.exceptions import ValidationError

ALLOWED_SCHEMES = ("rtsp", "rtsps", "file")


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


def validate_stream_url(url: str) -> None:
    """Raise a ValidationError that says what is wrong with a stream URL and what is allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES:
        raise ValidationError(
            f"The URL must start with rtsp://, rtsps:// or file:// (a recorded test video); "
            f"got {parts.scheme + '://' if parts.scheme else 'no scheme'}.",
            code="scheme",
        )
    if parts.scheme == "file":
        if not parts.path.startswith("/") or parts.netloc not in ("", "localhost"):
            raise ValidationError(
                "A file:// URL needs an absolute path, e.g. file:///srv/videos/lobby.mp4.",
                code="file_path",
            )
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
