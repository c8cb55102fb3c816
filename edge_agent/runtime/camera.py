"""The camera node process: decode one stream with PyAV and publish its frames into a FrameRing.

Run by the agent as ``python -m edge_agent.runtime.camera --config FILE`` (a ``CameraConfig``);
the stream's credentials come as one JSON line (``CameraSecrets``) on stdin, never in a file or
argv. They are put into the URL only in memory, and neither that URL nor FFmpeg's own messages
(which quote it) are ever logged: FFmpeg's log is silenced, and failures are reported in
streamcheck's fixed sentences (Panorama's) or in this module's own.

- ``rtsp://`` streams are read over TCP with an open and a read timeout. End of stream and every
  error is a disconnect: status ERROR with the reason, then reconnect with exponential backoff,
  and status RUNNING again once frames flow.
- ``file:///path`` plays a recorded video forever at its own frame rate, from the start again
  at its end with time stamps that keep increasing. A file source (``source/video/file``) gives
  ``files``: they play one after another, ``loop_count`` times (0: forever), at ``fps`` frames
  a second (0: each file's own rate), paced in real time; after the last pass the node stays
  RUNNING, says so, and publishes no more frames.
- Only H.264 is accepted; frames above 2 megapixels are scaled down to that pixel count, keeping
  the aspect ratio, in the same swscale step that converts them to BGR.
- Metrics every ``metrics_interval_s``: ``frames`` published, ``dropped`` (published, then
  replaced before any reader took it), ``reconnects`` (every connection attempt after the
  first), ``fps`` over the last interval.

The stream is read in a worker thread; the main thread only emits metrics and waits for SIGTERM,
so the process ends within a fraction of a second even while FFmpeg is blocked in a connect or a
read (those end on their own at the timeouts, but the process does not wait for that).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import av.logging
from pydantic import ValidationError

from edge_agent.runtime import report
from edge_agent.runtime.config import CameraConfig, CameraSecrets, load
from edge_agent.runtime.ring import MAX_PIXELS, FrameRing
from streamcheck.probe import NOT_H264, StreamCheckFailed, open_stream

logger = logging.getLogger("edge_agent.runtime.camera")

SCHEMES = ("rtsp", "rtsps", "file")
# How long SIGTERM waits for the worker to finish the frame it is on before the process exits
# regardless (it may be blocked inside FFmpeg until a timeout).
STOP_GRACE_S = 0.3
# A file source that falls further behind its own clock than this (a slow machine) starts
# pacing afresh instead of rushing to catch up.
MAX_LAG_S = 1.0


class Disconnected(Exception):
    """The stream is lost; ``message`` is what the operator reads, ``delivered`` whether the
    connection gave frames before (then the backoff starts afresh)."""

    def __init__(self, message: str, *, delivered: bool) -> None:
        super().__init__(message)
        self.message = message
        self.delivered = delivered


def scaled_size(width: int, height: int) -> tuple[int, int]:
    """The size a frame is published at: unchanged up to ``MAX_PIXELS``, else the same aspect
    ratio at no more than ``MAX_PIXELS`` pixels, with even dimensions (1920x1080 for 16:9)."""
    if width * height <= MAX_PIXELS:
        return width, height
    scale = math.sqrt(MAX_PIXELS / (width * height))
    # The epsilon keeps an exact result (2560*0.75) from rounding down through float error.
    new_width = max(2, int(width * scale + 1e-6) // 2 * 2)
    new_height = max(2, int(height * scale + 1e-6) // 2 * 2)
    while new_width * new_height > MAX_PIXELS:
        if new_width * height > new_height * width:
            new_width -= 2
        else:
            new_height -= 2
    return new_width, new_height


def _split_us(total_us: int) -> tuple[int, int]:
    sec, usec = divmod(total_us, 1_000_000)
    return sec, usec


def _read_failure(exc: BaseException, read_timeout_s: float) -> str:
    """The operator's sentence for a stream that fails after it opened. Never ``str(exc)``:
    FFmpeg's messages carry the URL, credentials included."""
    if isinstance(exc, av.error.ExitError | TimeoutError):
        return f"The camera sent no video for {read_timeout_s:g} s"
    if isinstance(exc, ConnectionError):
        return "The connection to the camera was lost"
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return f"The stream failed: {reason}"


class Camera:
    """Reads the stream and publishes its frames, reconnecting forever until ``stop`` is set."""

    def __init__(
        self,
        config: CameraConfig,
        secrets: CameraSecrets,
        ring: FrameRing,
        stop: threading.Event,
    ) -> None:
        self.config = config
        self.secrets = secrets
        self.ring = ring
        self.stop = stop
        self.is_file = urlsplit(config.url).scheme == "file"
        self.files = (config.files or [config.url]) if self.is_file else []
        self.position = 0  # the file playing (or next to play) in ``files``
        self.passes = 0  # complete passes through ``files``
        # A file source's clock, kept across its files, passes and retries: the media time the
        # next file starts at, and the monotonic and wall times of media time 0.
        self._media_start = 0.0
        self._mono_base: float | None = None
        self._wall_base_us = 0
        # Totals since the process started; written by the worker, read by the metrics loop
        # (plain ints: each update is atomic under the GIL).
        self.frames = 0
        self.dropped = 0
        self.reconnects = 0
        self._previous_seq = 0
        self._last_ts_us = 0
        self._status: tuple[str, str] | None = None

    # --- status -----------------------------------------------------------------------------
    def _set_status(self, state: str, message: str = "") -> None:
        # Only changes: a camera that stays down retries every few seconds with the same reason.
        if self._status != (state, message):
            self._status = (state, message)
            report.status(state, message)

    # --- the reconnect loop -----------------------------------------------------------------
    def run(self) -> None:
        attempt = 0  # connections in a row that gave no frame, for the backoff
        first = True
        while not self.stop.is_set():
            if not first:
                self.reconnects += 1
            first = False
            try:
                self._play()
            except Disconnected as lost:
                message, delivered = lost.message, lost.delivered
            except StreamCheckFailed as failure:
                message, delivered = failure.message, False
            except Exception as exc:  # the camera must keep trying, whatever went wrong
                # Only the type: messages of lower layers may carry the URL with credentials.
                logger.exception("The camera node failed (%s)", type(exc).__name__)
                message, delivered = f"The camera node failed ({type(exc).__name__})", False
            else:
                return  # stopped
            if self.stop.is_set():
                return
            if delivered:
                attempt = 0
            delay = min(
                self.config.backoff_cap_s, self.config.backoff_base_s * 2 ** min(attempt, 32)
            )
            attempt += 1
            logger.warning("Stream down: %s; reconnecting in %.1f s", message, delay)
            self._set_status("ERROR", message)
            if self.stop.wait(delay):
                return

    # --- one connection ---------------------------------------------------------------------
    def _open(self, url: str) -> av.container.InputContainer:
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise StreamCheckFailed(
                f"The camera's URL must start with rtsp://, rtsps:// or file://, not {parts.scheme}://"
            )
        # A file source opens a file per video and pass: only the first open is worth a line.
        log = logger.debug if self.is_file and self.frames else logger.info
        log("Connecting to the stream")
        try:
            return open_stream(
                url,
                self.secrets.username,
                self.secrets.password,
                open_timeout=self.config.open_timeout_s,
                read_timeout=self.config.read_timeout_s,
            )
        except StreamCheckFailed as failure:
            if self.is_file:  # a local path is no secret and tells the operator what to fix
                failure.message = f"{failure.message}: {parts.path}"
            raise

    def _video(self, container: av.container.InputContainer) -> tuple[Any, Fraction | None]:
        """The H.264 stream to decode and its frame rate (StreamCheckFailed for any other)."""
        if not container.streams.video:
            raise StreamCheckFailed(NOT_H264)
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if codec != "h264":
            raise StreamCheckFailed(NOT_H264)
        if self.is_file:
            # Frame threading delays output by a few frames: harmless for a recording,
            # but a live camera keeps the default for the lowest latency.
            stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        log = logger.debug if self.is_file and self.frames else logger.info
        log(
            "Stream opened: %s %dx%d at %s fps",
            codec,
            stream.codec_context.width,
            stream.codec_context.height,
            f"{float(rate):g}" if rate else "unknown",
        )
        return stream, rate

    def _play(self) -> None:
        """Read until the stream is lost (``Disconnected``) or ``stop`` is set (returns)."""
        if self.is_file:
            self._play_files()
            return
        container = self._open(self.config.url)
        try:
            stream, rate = self._video(container)
            self._frames(container, stream, rate)
        finally:
            container.close()

    def _frames(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        rate: Fraction | None,
    ) -> None:
        time_base = stream.time_base or Fraction(1, 90000)
        frame_s = 1 / float(rate) if rate else 1 / 30
        wall_base_us: int | None = None  # the wall clock when this connection's first frame came
        first_pts: int | None = None
        media_t = 0.0
        delivered = 0
        try:
            for packet in container.demux(stream):
                if self.stop.is_set():
                    return
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    continue  # a damaged packet (a lost RTP packet): the next key frame heals
                for frame in decoded:
                    decoded_ns = time.monotonic_ns()
                    if frame.pts is not None:
                        if first_pts is None:
                            first_pts = frame.pts
                        media_t = float((frame.pts - first_pts) * time_base)
                    elif delivered:
                        media_t += frame_s
                    if wall_base_us is None:
                        wall_base_us = time.time_ns() // 1000 - round(media_t * 1e6)
                    self._publish(frame, wall_base_us + round(media_t * 1e6), decoded_ns)
                    delivered += 1
        except (av.error.FFmpegError, OSError) as exc:
            message = _read_failure(exc, self.config.read_timeout_s)
            raise Disconnected(message, delivered=delivered > 0) from None
        raise Disconnected("The camera ended the stream", delivered=delivered > 0)

    # --- recorded video -----------------------------------------------------------------------
    def _play_files(self) -> None:
        """Play ``files`` from ``position`` on, pass after pass, until ``stop`` or the last pass
        ``loop_count`` asks for; then stay (a process that ended would be restarted)."""
        loops = self.config.loop_count
        while not self.stop.is_set():
            url = self.files[self.position]
            container = self._open(url)
            try:
                stream, rate = self._video(container)
                if not self._file_frames(container, stream, rate, urlsplit(url).path):
                    return  # stopped
            finally:
                container.close()
            self.position = (self.position + 1) % len(self.files)
            if self.position == 0:
                self.passes += 1
                if loops and self.passes >= loops:
                    played = "once" if loops == 1 else f"{loops} times"
                    message = f"The recorded videos have played {played} (loopCount {loops})"
                    logger.info("%s; no more frames", message)
                    self._set_status("RUNNING", message)
                    self.stop.wait()
                    return

    def _file_frames(
        self,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        rate: Fraction | None,
        path: str,
    ) -> bool:
        """Publish one file's frames on the source's clock; False when stopped meanwhile."""
        time_base = stream.time_base or Fraction(1, 90000)
        fps = self.config.fps
        frame_s = 1 / fps if fps else (1 / float(rate) if rate else 1 / 30)
        first_pts: int | None = None
        media_t = self._media_start
        passed = 0
        try:
            for packet in container.demux(stream):
                if self.stop.is_set():
                    return False
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError:
                    continue
                for frame in decoded:
                    decoded_ns = time.monotonic_ns()
                    if fps or frame.pts is None:
                        media_t = self._media_start + passed * frame_s
                    else:
                        if first_pts is None:
                            first_pts = frame.pts
                        media_t = self._media_start + float((frame.pts - first_pts) * time_base)
                    now = time.monotonic()
                    if self._mono_base is None or now - (self._mono_base + media_t) > MAX_LAG_S:
                        self._mono_base = now - media_t
                        if not self._wall_base_us:
                            self._wall_base_us = time.time_ns() // 1000 - round(media_t * 1e6)
                    if not self._pace(self._mono_base, media_t):
                        return False
                    ts_us = self._wall_base_us + round(media_t * 1e6)
                    self._publish(frame, ts_us, decoded_ns)
                    passed += 1
        except (av.error.FFmpegError, OSError) as exc:
            message = _read_failure(exc, self.config.read_timeout_s)
            raise Disconnected(message, delivered=passed > 0) from None
        if passed == 0:
            raise Disconnected(f"The recorded video has no frames: {path}", delivered=False)
        self._media_start = media_t + frame_s
        return True

    def _pace(self, mono_base: float, media_t: float) -> bool:
        """Wait until the frame's time on the file's own clock; False when stopped meanwhile."""
        delay = mono_base + media_t - time.monotonic()
        return not (delay > 0 and self.stop.wait(delay))

    def _publish(self, frame: av.VideoFrame, ts_us: int, decoded_ns: int) -> None:
        width, height = scaled_size(frame.width, frame.height)
        # One swscale step scales (when needed) and converts to BGR.
        image = frame.to_ndarray(width=width, height=height, format="bgr24")
        if self._previous_seq and self.ring.unread(self._previous_seq):
            self.dropped += 1
        # A camera's clock may step back (an RTCP resync): time stamps still only increase.
        ts_us = max(ts_us, self._last_ts_us + 1)
        self._last_ts_us = ts_us
        sec, usec = _split_us(ts_us)
        self._previous_seq = self.ring.write(image, ts_sec=sec, ts_usec=usec, decoded_ns=decoded_ns)
        self.frames += 1
        self._set_status("RUNNING")


def _read_secrets() -> CameraSecrets | None:
    line = sys.stdin.readline()
    if not line.strip():
        return CameraSecrets()
    try:
        return CameraSecrets.model_validate_json(line)
    except ValidationError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A camera node: a stream into a frame ring.")
    parser.add_argument("--config", required=True, help="CameraConfig JSON file")
    args = parser.parse_args(argv)
    report.setup_logging()
    av.logging.set_level(None)  # FFmpeg's messages quote the URL, credentials included
    try:
        config: CameraConfig = load(CameraConfig, args.config)
    except (OSError, ValidationError) as exc:
        logger.error("Cannot read the camera's config %s: %s", args.config, exc)
        return 2
    # Read before SIGTERM is handled: until then the default action ends the process at once.
    secrets = _read_secrets()
    if secrets is None:
        # Never the validation error itself: it quotes the input, the password included.
        logger.error("The camera's credentials on stdin are not a valid JSON line")
        return 2
    try:
        ring = FrameRing.open(Path(config.runtime_dir) / config.ring)
    except Exception as exc:
        logger.error("Cannot open the frame ring: %s", exc)
        return 2
    ring.set_writer(os.getpid())

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    camera = Camera(config, secrets, ring, stop)
    worker = threading.Thread(target=camera.run, name="camera", daemon=True)
    worker.start()

    interval = config.metrics_interval_s
    last = [0, time.monotonic()]  # frames and time at the previous report, for fps

    def emit_metrics() -> None:
        now, frames = time.monotonic(), camera.frames
        fps = (frames - last[0]) / (now - last[1]) if now > last[1] else 0.0
        last[:] = [frames, now]
        report.metrics(
            {
                "frames": frames,
                "dropped": camera.dropped,
                "reconnects": camera.reconnects,
                "fps": round(fps, 2),
            }
        )

    deadline = time.monotonic() + interval
    while not stop.wait(max(0.0, deadline - time.monotonic())):
        deadline = max(deadline + interval, time.monotonic())
        emit_metrics()
        if not worker.is_alive():
            logger.error("The camera's reader stopped")
            break
    worker.join(STOP_GRACE_S)
    emit_metrics()  # the totals up to the end, which the agent adds up across restarts
    sys.stdout.flush()
    sys.stderr.flush()
    # Not a normal interpreter exit: the worker may still be blocked inside FFmpeg, and
    # finalizing around it could wait or crash; the ring needs no cleanup.
    os._exit(0 if stop.is_set() else 1)


if __name__ == "__main__":
    sys.exit(main())
