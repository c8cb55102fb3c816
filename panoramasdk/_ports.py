"""``panoramasdk.port``: the node's inputs (media, parameters) and outputs (media)."""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.runtime.records import (
    MAX_PUT_RECORD,
    MediaInput,
    MediaOutput,
    ParameterInput,
    PutMedia,
    PutRecord,
)
from edge_agent.runtime.ring import Frame, FrameRing, RingError
from panoramasdk._errors import TimeoutException
from panoramasdk._media import media

logger = logging.getLogger("panoramasdk")

# How often get() looks at the rings while it waits: the rings have no wake-up mechanism
# (FrameRing.wait polls at the same rate), and 1 ms is well under one frame at any rate.
POLL_S = 0.001
# A ring file the agent has not made yet is looked for again this often, not on every poll.
REOPEN_S = 0.5
MAX_RECORD = MAX_PUT_RECORD


@dataclass
class _Context:
    """What the ports of one node share: where the runtime folder is, and the node's out ring
    (one writer per ring, however many output ports write into it)."""

    node: str
    runtime_dir: Path
    out_rings: dict[str, tuple[FrameRing, threading.Lock]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def out_ring(self, name: str) -> tuple[FrameRing, threading.Lock]:
        with self.lock:
            if name not in self.out_rings:
                ring = FrameRing.open(self.runtime_dir / name)
                ring.set_writer(os.getpid())
                self.out_rings[name] = (ring, threading.Lock())
            return self.out_rings[name]


class port:
    """One port of the node's interface: ``node.inputs.<name>`` or ``node.outputs.<name>``."""

    direction = "input"
    kind = ""

    def __init__(self, name: str) -> None:
        self.name = name

    def get(self, timeout: float | None = None) -> Any:
        raise TypeError(f"{self.name} is an output port: it takes put(), it cannot be read")

    def put(self, data: Sequence[media]) -> None:
        raise TypeError(f"{self.name} is an input port: read it with get(), it cannot be written")

    def _close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<panoramasdk.port {self.direction} {self.name!r} ({self.kind})>"


# --- parameters -------------------------------------------------------------------------------

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def _typed(name: str, kind: str, value: Any) -> Any:
    """A parameter's value as the Python type of its port type, or ValueError naming the port."""
    try:
        if kind == "float32":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "int32":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, str):
                value = value.strip()
                number = float(value) if any(c in value for c in ".eE") else int(value)
            else:
                number = value
            if isinstance(number, float):
                if not number.is_integer():
                    raise ValueError
                number = int(number)
            return int(number)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError
        if kind == "string":
            return value if isinstance(value, str) else str(value)
    except (TypeError, ValueError, OverflowError):
        pass
    else:
        raise ValueError(f"parameter {name}: unknown port type {kind!r}")
    raise ValueError(f"parameter {name}: {value!r} is not a valid {kind} value")


class _ParameterPort(port):
    def __init__(self, name: str, spec: ParameterInput) -> None:
        super().__init__(name)
        self.kind = spec.type
        self._raw = spec.value
        self._value: Any = None
        self._converted = False

    def get(self, timeout: float | None = None) -> Any:
        # Converted on first use, so a bad value fails the call that reads it (where the
        # application's own error handling is) rather than the node's construction.
        if not self._converted:
            self._value = _typed(self.name, self.kind, self._raw)
            self._converted = True
        return self._value


# --- media in ---------------------------------------------------------------------------------


class _Stream:
    """One camera stream wired to a media input: its ring, and what this node last took."""

    def __init__(self, spec: Any, runtime_dir: Path) -> None:
        self.spec = spec
        self.path = runtime_dir / spec.ring
        self.ring: FrameRing | None = None
        self.last: Frame | None = None
        self._look_again = 0.0

    def _open(self) -> FrameRing | None:
        if self.ring is None and time.monotonic() >= self._look_again:
            try:
                self.ring = FrameRing.open(self.path)
            except RingError as exc:
                self._look_again = time.monotonic() + REOPEN_S
                logger.debug("camera ring not there yet: %s", exc)
        return self.ring

    def paused(self) -> bool:
        """The operator paused this camera: the stream leaves every batch until it resumes."""
        ring = self._open()
        return ring is not None and ring.paused

    def take(self) -> Frame | None:
        """The newest frame if it is newer than the last one taken; taking it releases the hold
        on that last one."""
        ring = self._open()
        if ring is None or ring.paused:
            return None
        frame = ring.take(self.spec.reader, self.last.seq if self.last else 0)
        if frame is not None:
            self.last = frame
        return frame

    def media(self, frame: Frame, cached: bool) -> media:
        return media._from_ring(
            frame.image, ring=self.spec.ring, slot=frame.slot, seq=frame.seq,
            decoded_ns=frame.decoded_ns, stream_id=self.spec.stream_id,
            stream_uri=self.spec.stream_uri, time_stamp=(frame.ts_sec, frame.ts_usec),
            is_cached=cached,
        )  # fmt: skip

    def release(self) -> None:
        if self.ring is not None:
            self.ring.release(self.spec.reader)


class _MediaInputPort(port):
    kind = "media"

    def __init__(self, name: str, spec: MediaInput, runtime_dir: Path) -> None:
        super().__init__(name)
        self._streams = [_Stream(stream, runtime_dir) for stream in spec.streams]
        self._lock = threading.Lock()

    def get(self, timeout: float | None = None) -> list[media]:
        """Wait for a new frame on any stream; then one media per stream that has produced a
        frame, in the configured order (``is_cached`` for a stream with nothing new). A paused
        camera's stream is left out until it resumes."""
        if timeout is not None:
            timeout = float(timeout)
            if math.isnan(timeout):
                raise ValueError("timeout must be a number of seconds or None")
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        with self._lock:
            while True:
                fresh = [stream.take() for stream in self._streams]
                if any(frame is not None for frame in fresh):
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutException(f"{self.name}: no new frame within {timeout} s")
                time.sleep(POLL_S)
            items = []
            for stream, frame in zip(self._streams, fresh):  # noqa: B905 (Python 3.8)
                if frame is not None:
                    items.append(stream.media(frame, cached=False))
                elif stream.last is not None and not stream.paused():
                    items.append(stream.media(stream.last, cached=True))
            return items

    def _close(self) -> None:
        for stream in self._streams:
            stream.release()


# --- media out --------------------------------------------------------------------------------


def _as_frame(image: Any, where: str) -> np.ndarray:
    """An assigned image as the (H, W, 3) uint8 BGR the display can draw."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{where}: image must be a numpy array, not {type(image).__name__}")
    if image.ndim == 2:  # grayscale: the display draws BGR
        image = np.repeat(image[:, :, np.newaxis], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:  # BGRA: the display has no alpha
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{where}: image must be (height, width, 3) BGR, got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{where}: image must be uint8, got {image.dtype} (use .astype(np.uint8))")
    return image


class _MediaOutputPort(port):
    direction = "output"
    kind = "media"

    def __init__(self, name: str, spec: MediaOutput, context: _Context) -> None:
        super().__init__(name)
        self._spec = spec
        self._context = context
        self._displays = [str(context.runtime_dir / display) for display in spec.displays]
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._failing: set[str] = set()
        self.sent = 0  # records delivered to a display socket
        self.dropped = 0  # records a display could not take (not there, queue full)

    def put(self, data: Sequence[media]) -> None:
        """Send the frames (with their overlays) to the display(s) this port feeds."""
        if isinstance(data, media):
            raise TypeError(f"{self.name}.put() takes a list of media, not a single media")
        if not isinstance(data, (list, tuple)):
            raise TypeError(f"{self.name}.put() takes a list of media, not {type(data).__name__}")
        if not data:
            raise ValueError(f"{self.name}.put() needs at least one media, got an empty list")
        for index, item in enumerate(data):
            if not isinstance(item, media):
                raise TypeError(
                    f"{self.name}.put(): item {index} is a {type(item).__name__}, not a media"
                )
        with self._lock:
            if not self._displays:  # wired to nothing: checked, then dropped
                return
            record = PutRecord(
                node=self._context.node, port=self.name, put_ns=time.monotonic_ns(),
                media=[self._describe(item, index) for index, item in enumerate(data)],
            )  # fmt: skip
            payload = record.model_dump_json().encode()
            if len(payload) > MAX_RECORD:
                # Thousands of overlays: the display could not read the record whole.
                self.dropped += len(self._displays)
                logger.warning(
                    "%s.put(): %d bytes of overlays is more than a display takes "
                    "(%d); frame dropped",
                    self.name,
                    len(payload),
                    MAX_RECORD,
                )
                return
            for display in self._displays:
                self._send(display, payload)

    def _describe(self, item: media, index: int) -> PutMedia:
        labels, rects = list(item._labels), list(item._rects)
        if item._in_ring():
            return PutMedia(
                ring=item._ring, slot=item._slot, seq=item._seq, stream_id=item.stream_id,
                decoded_ns=item._decoded_ns, labels=labels, rects=rects,
            )  # fmt: skip
        # The application replaced the image: copy it into this node's own ring, once per put.
        where = f"{self.name}.put() item {index}"
        image = _as_frame(item.image, where)
        if not self._spec.ring:
            raise RuntimeError(f"{where}: this node has no output ring for a replaced image")
        ring, lock = self._context.out_ring(self._spec.ring)
        height, width = image.shape[:2]
        with lock:
            try:
                slot, view = ring.acquire(width, height)
            except RingError as exc:
                raise ValueError(f"{where}: {exc}") from None
            np.copyto(view, image)
            seq = ring.publish(
                slot, width, height, ts_sec=item.time_stamp[0], ts_usec=item.time_stamp[1],
                decoded_ns=item._decoded_ns or None,
            )  # fmt: skip
        return PutMedia(
            ring=self._spec.ring, slot=slot, seq=seq, stream_id=item.stream_id,
            decoded_ns=item._decoded_ns, labels=labels, rects=rects,
        )  # fmt: skip

    def _send(self, display: str, payload: bytes) -> None:
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)
        try:
            self._socket.sendto(payload, display)
        except OSError as exc:
            # Not started yet, restarting, or behind (its queue is full): the frame is dropped,
            # as a display would drop it anyway, and the application goes on.
            self.dropped += 1
            if display not in self._failing:
                self._failing.add(display)
                logger.warning("%s: display %s is not taking frames (%s)", self.name, display, exc)
            return
        self.sent += 1
        if display in self._failing:
            self._failing.discard(display)
            logger.info("%s: display %s is taking frames again", self.name, display)

    def _close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
