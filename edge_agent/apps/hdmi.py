"""The appliance's HDMI output, and what "View output" in the console shows of it.

Panorama's rule: of the applications with an output node, the most recently started one owns
the display; when it stops, the one started before it (still running) owns it again. The
supervisor tells ``Hdmi`` who starts (``claim``, with the instance's display ring) and stops
(``release``).

The console asks for the picture only while someone looks at it: ``output_watch`` carries the
time until which it is wanted, renewed every few seconds by the open page. Until then a thread
takes the owner's newest composed frame from the display ring (reader 0), encodes it as JPEG at
most ``max_fps`` times a second, and sends it as an ``output_frame`` over the link, live: when
the link is down the frame is dropped, never queued. Nothing is encoded while nobody watches.
While watched with no owner, an empty frame every few seconds says so.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from devicelink.messages import MAX_OUTPUT_JPEG_BYTES
from edge_agent.runtime.ring import FrameRing, RingError

logger = logging.getLogger("edge_agent.apps.hdmi")
OUTPUT_READER = 0  # the agent's reader index in every display ring
MAX_JPEG_BYTES = MAX_OUTPUT_JPEG_BYTES
NOBODY_EVERY_S = 3.0
MAX_WATCH_S = 120.0  # an output_watch never keeps the encoder busy longer than this
Send = Callable[[dict[str, Any]], bool]


class Hdmi:
    def __init__(self, send: Send, *, max_fps: float = 10.0, quality: int = 80) -> None:
        self._send = send
        self._interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self._quality = max(1, min(100, int(quality)))
        self._claims: list[tuple[str, Path]] = []  # oldest first; the last one owns the display
        self._until = 0.0
        self._closed = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        # Counters (status, tests).
        self.encoded = 0
        self.sent = 0
        self.dropped = 0

    # --- who owns the display -----------------------------------------------------------------
    def claim(self, application_instance_id: str, ring: Path) -> None:
        """An instance with an output node started: it owns the display from now on."""
        with self._changed:
            self._claims = [c for c in self._claims if c[0] != application_instance_id]
            self._claims.append((application_instance_id, Path(ring)))
            self._changed.notify_all()
        logger.info("%s shows its output on HDMI.", application_instance_id)

    def release(self, application_instance_id: str) -> None:
        """It stopped; the previous claimant that still runs owns the display again."""
        with self._changed:
            before = self._owner_locked()
            self._claims = [c for c in self._claims if c[0] != application_instance_id]
            owner = self._owner_locked()
            self._changed.notify_all()
        if before == application_instance_id and owner is not None:
            logger.info("%s shows its output on HDMI again.", owner)

    @property
    def owner(self) -> str | None:
        with self._changed:
            return self._owner_locked()

    def _owner_locked(self) -> str | None:
        return self._claims[-1][0] if self._claims else None

    # --- who watches --------------------------------------------------------------------------
    def watch(self, until: float) -> None:
        """Someone watches until ``until`` (epoch seconds, this appliance's clock)."""
        until = min(until, time.time() + MAX_WATCH_S)
        with self._changed:
            if self._closed:
                return
            self._until = max(self._until, until)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hdmi-output", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    @property
    def watched(self) -> bool:
        return time.time() < self._until

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    # --- the encoder thread -------------------------------------------------------------------
    def _run(self) -> None:
        ring: FrameRing | None = None
        ring_key: tuple[str, Path] | None = None
        last_seq = 0
        last_nobody = 0.0
        last_sent = 0.0
        while True:
            with self._changed:
                remaining = self._until - time.time()
                if self._closed:
                    break
                if remaining <= 0:
                    # Nobody watches: sleep until someone does; hold no slot meanwhile.
                    if ring is not None:
                        ring.release(OUTPUT_READER)
                    self._changed.wait()
                    continue
                claim = self._claims[-1] if self._claims else None
            if claim is None:
                ring, ring_key = None, None
                now = time.monotonic()
                if now - last_nobody >= NOBODY_EVERY_S:
                    last_nobody = now
                    self._deliver({"application_instance_id": "", "width": 0, "height": 0,
                                   "jpeg": ""})  # fmt: skip
                self._wait(min(remaining, NOBODY_EVERY_S - (time.monotonic() - last_nobody)))
                continue
            last_nobody = 0.0
            if claim != ring_key:
                if ring is not None:
                    ring.release(OUTPUT_READER)
                ring, ring_key, last_seq = self._open(claim[1]), claim, 0
            if ring is None:
                self._wait(min(remaining, 0.5))  # the display ring may not exist yet
                ring_key = None
                continue
            pause = self._interval - (time.monotonic() - last_sent)
            if pause > 0:
                self._wait(pause)
                continue
            frame = ring.take(OUTPUT_READER, last_seq)
            if frame is None:
                ring.wait(last_seq, timeout=min(remaining, 0.1))
                continue
            last_seq = frame.seq
            height, width = frame.image.shape[:2]
            ok, jpeg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
            ring.release(OUTPUT_READER)
            self.encoded += 1
            last_sent = time.monotonic()
            if not ok or len(jpeg) > MAX_JPEG_BYTES:
                self.dropped += 1
                continue
            self._deliver({
                "application_instance_id": claim[0], "width": width, "height": height,
                "jpeg": base64.b64encode(jpeg.tobytes()).decode("ascii"),
            })  # fmt: skip
        if ring is not None:
            ring.release(OUTPUT_READER)

    def _wait(self, seconds: float) -> None:
        with self._changed:
            if not self._closed and seconds > 0:
                self._changed.wait(seconds)

    def _open(self, path: Path) -> FrameRing | None:
        try:
            return FrameRing.open(path)
        except RingError as exc:
            logger.debug("The display ring is not there (yet): %s", exc)
            return None

    def _deliver(self, fields: dict[str, Any]) -> None:
        message = {"type": "output_frame", "time": time.time(), **fields}
        try:
            delivered = self._send(message)
        except Exception:
            logger.debug("sending an output frame failed", exc_info=True)
            delivered = False
        if delivered:
            self.sent += 1
        else:
            self.dropped += 1
