"""Connect to a stream, read its first frame, and say what it is or exactly why not."""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from urllib.parse import quote, urlsplit, urlunsplit

import av

# Panorama's camera node words (Developer Guide, troubleshooting "Camera streams").
SDP_PREFIX = "Failed to get SDP description: "
NOT_H264 = "Camera did not provide an H264 encoded stream"
SNAPSHOT_WIDTH = 320


class StreamCheckFailed(Exception):
    """The stream cannot be used; ``message`` is what the operator reads, ``hint`` what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class StreamInfo:
    codec: str
    width: int
    height: int
    fps: float | None
    first_frame_ms: int
    snapshot_jpeg: bytes


def with_credentials(url: str, username: str, password: str) -> str:
    if not (username or password):
        return url
    parts = urlsplit(url)
    userinfo = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit(
        (parts.scheme, f"{userinfo}@{parts.netloc}", parts.path, parts.query, parts.fragment)
    )


def _source(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return parts.path, {}
    return url, {"rtsp_transport": "tcp"}


def _failure(exc: Exception, elapsed: float, open_timeout: float) -> StreamCheckFailed:
    # Never use str(exc): FFmpeg puts the URL, credentials included, into its messages.
    if isinstance(exc, av.error.HTTPUnauthorizedError):
        return StreamCheckFailed(
            f"{SDP_PREFIX}401 Unauthorized; with the result code: 401",
            "The camera refused the credentials: check the user name and password, or add them "
            "if the camera needs some.",
        )
    if isinstance(exc, av.error.HTTPNotFoundError):
        return StreamCheckFailed(
            f"{SDP_PREFIX}404 Not Found; with the result code: 404",
            "The camera has no stream at this path: check the URL's path against the camera's "
            "documentation.",
        )
    if isinstance(exc, ConnectionRefusedError):
        return StreamCheckFailed(
            f"{SDP_PREFIX}Connection to server failed: Connection refused (-111)",
            "Nothing listens at this address and port: check the host, the port (RTSP is "
            "usually 554) and that the camera is on.",
        )
    if isinstance(exc, FileNotFoundError):
        return StreamCheckFailed(
            "Recorded video not found", "Check the file:// path on the machine running the check."
        )
    if elapsed >= open_timeout * 0.9 or isinstance(exc, TimeoutError | av.error.ExitError):
        return StreamCheckFailed(
            f"{SDP_PREFIX}Connection to server failed: Connection timed out (-115)",
            "The camera did not answer in time: check that RTSP traffic can reach it from "
            "here (port 554 over TCP) and that the address is right.",
        )
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return StreamCheckFailed(f"{SDP_PREFIX}{reason}", "Check the URL and the camera's settings.")


def open_stream(
    url: str,
    username: str = "",
    password: str = "",
    *,
    open_timeout: float = 5.0,
    read_timeout: float = 5.0,
) -> av.container.InputContainer:
    """Open a stream over RTSP/TCP (or a recorded file) with timeouts; failures are mapped."""
    source, options = _source(with_credentials(url, username, password))
    started = time.monotonic()
    try:
        return av.open(source, options=options, timeout=(open_timeout, read_timeout))
    except (av.error.FFmpegError, OSError) as exc:
        raise _failure(exc, time.monotonic() - started, open_timeout) from None


def _snapshot(frame: av.VideoFrame) -> bytes:
    height = max(2, round(frame.height * SNAPSHOT_WIDTH / frame.width) // 2 * 2)
    small = frame.reformat(width=SNAPSHOT_WIDTH, height=height, format="yuvj420p")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = SNAPSHOT_WIDTH, height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    packets = [*encoder.encode(small), *encoder.encode(None)]
    return b"".join(bytes(packet) for packet in packets)


def probe(
    url: str,
    username: str = "",
    password: str = "",
    *,
    open_timeout: float = 5.0,
    read_timeout: float = 5.0,
) -> StreamInfo:
    """Check a stream as an appliance's camera node would: H.264, and a first decoded frame."""
    started = time.monotonic()
    container = open_stream(
        url, username, password, open_timeout=open_timeout, read_timeout=read_timeout
    )
    try:
        if not container.streams.video:
            raise StreamCheckFailed(NOT_H264, "The stream carries no video.")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if codec != "h264":
            raise StreamCheckFailed(
                NOT_H264,
                f"The camera sends {codec.upper()}; choose H.264 in the camera's video settings.",
            )
        read_started = time.monotonic()
        try:
            frame = next(container.decode(stream))
        except StopIteration:
            raise StreamCheckFailed(
                "The stream ended before its first frame", "Check that the camera is recording."
            ) from None
        except (av.error.FFmpegError, OSError) as exc:
            raise _failure(exc, time.monotonic() - read_started, read_timeout) from None
        first_frame_ms = round((time.monotonic() - started) * 1000)
        rate = stream.average_rate or stream.guessed_rate
        return StreamInfo(
            codec=codec,
            width=frame.width,
            height=frame.height,
            fps=round(float(rate), 2) if rate else None,
            first_frame_ms=first_frame_ms,
            snapshot_jpeg=_snapshot(frame),
        )
    finally:
        container.close()
