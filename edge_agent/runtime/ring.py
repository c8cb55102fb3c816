"""FrameRing: decoded frames in shared memory, written by one process and read in place by others.

A ring is one memory-mapped file (in ``/dev/shm`` normally, so it never reaches a disk):

- a header page: layout, the latest published slot and sequence number, whether the stream is
  *paused* (the operator paused its camera: readers leave it out until it resumes), and per
  reader the two slots it *holds* and the last sequence number it *took*;
- one 64-byte header per slot: sequence number (0 empty, -1 being written), width, height,
  the source time stamp (sec, usec) and ``decoded_ns`` (``CLOCK_MONOTONIC``, comparable across
  processes, for latency);
- the slots' pixels, BGR, each ``capacity`` bytes, page aligned.

The writer never writes into the latest slot or into a slot a reader holds, so a reader can use
the pixels of the slot it holds in place for as long as it holds it (numpy views, no copy). A
reader holds the frame it took last and the one before (so an application may take its next
frame while it still finishes the previous one); taking a frame releases the one before that.
Readers are numbered: each consumer of a ring is given its own reader index by whoever set the
pipeline up. Claiming a slot
is validated seqlock-style on both sides (writer: mark the slot -1, then re-check the holds;
reader: hold, then re-check the slot's sequence number), so neither side ever waits for the
other.

The agent creates the file (``FrameRing.create``) before it starts the processes; the writer and
the readers ``FrameRing.open`` it, so a restarted camera keeps writing into the same ring its
readers already mapped.
"""

from __future__ import annotations

import mmap
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = 0x474E5256  # "VRNG"
VERSION = 1
PAGE = 4096
SLOT_HEADER = 64
MAX_READERS = 16
# Frames above 2 megapixels are scaled down to 1920x1080 (or the same pixel count at another
# aspect ratio), so no frame needs more than this.
MAX_PIXELS = 1920 * 1080
DEFAULT_CAPACITY = MAX_PIXELS * 3

# Header words (int64), by index.
(_MAGIC, _VERSION, _SLOTS, _READERS, _CAPACITY, _LATEST_SLOT, _LATEST_SEQ, _WRITER_PID, _PAUSED) = (
    range(9)
)
_HOLDS = 16  # MAX_READERS words: the slot each reader holds, -1 none
_TAKEN = _HOLDS + MAX_READERS  # MAX_READERS words: the last sequence number each reader took
_HELD_BEFORE = _TAKEN + MAX_READERS  # MAX_READERS words: the slot each reader took before, -1
# Slot header words (int64).
_SEQ, _WIDTH, _HEIGHT, _TS_SEC, _TS_USEC, _DECODED_NS = range(6)


class RingError(Exception):
    pass


def _round_up(value: int, to: int = PAGE) -> int:
    return (value + to - 1) // to * to


@dataclass
class Frame:
    """One frame as a reader holds it; ``image`` is a view into the ring (writable)."""

    slot: int
    seq: int
    image: np.ndarray
    ts_sec: int
    ts_usec: int
    decoded_ns: int


class FrameRing:
    def __init__(self, path: Path, mapping: mmap.mmap) -> None:
        self.path = path
        self._map = mapping
        self._header = np.ndarray((PAGE // 8,), np.int64, mapping, 0)
        if int(self._header[_MAGIC]) != MAGIC or int(self._header[_VERSION]) != VERSION:
            raise RingError(f"{path}: not a frame ring")
        self.slots = int(self._header[_SLOTS])
        self.readers = int(self._header[_READERS])
        self.capacity = int(self._header[_CAPACITY])
        self._slot_headers = np.ndarray((self.slots, SLOT_HEADER // 8), np.int64, mapping, PAGE)
        self._data_offset = PAGE + _round_up(self.slots * SLOT_HEADER)
        self._stride = _round_up(self.capacity)
        self._next = 0  # the writer's round-robin position

    # --- files ----------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: Path,
        *,
        slots: int | None = None,
        readers: int = 4,
        capacity: int = DEFAULT_CAPACITY,
    ) -> FrameRing:
        """Make a new empty ring file (replacing one of the same name). The file is sparse: memory
        is used only for the slots that have been written."""
        slots = 2 * readers + 3 if slots is None else slots
        if not 2 <= 2 * readers + 2 <= slots:
            raise ValueError("a ring needs two slots per reader, and two more")
        if readers > MAX_READERS:
            raise ValueError(f"a ring has at most {MAX_READERS} readers")
        size = PAGE + _round_up(slots * SLOT_HEADER) + slots * _round_up(capacity)
        temp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, size)
            header = np.zeros(PAGE // 8, np.int64)
            header[[_MAGIC, _VERSION, _SLOTS, _READERS, _CAPACITY]] = [
                MAGIC, VERSION, slots, readers, capacity,
            ]  # fmt: skip
            header[_LATEST_SLOT] = -1
            header[_HOLDS : _HOLDS + MAX_READERS] = -1
            header[_HELD_BEFORE : _HELD_BEFORE + MAX_READERS] = -1
            os.pwrite(fd, header.tobytes(), 0)
        finally:
            os.close(fd)
        os.replace(temp, path)
        return cls.open(path)

    @classmethod
    def open(cls, path: Path) -> FrameRing:
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise RingError(f"{path}: {exc.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size < PAGE:
                raise RingError(f"{path}: not a frame ring")
            mapping = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        return cls(path, mapping)

    def close(self) -> None:
        # Views handed out keep the mapping alive; dropping ours is enough.
        self._header = self._slot_headers = None  # type: ignore[assignment]

    # --- state ------------------------------------------------------------------------------------
    @property
    def latest_seq(self) -> int:
        return int(self._header[_LATEST_SEQ])

    def holds(self) -> list[int]:
        """The slot each reader holds (its latest frame), -1 for none."""
        return [int(s) for s in self._header[_HOLDS : _HOLDS + self.readers]]

    def held(self) -> set[int]:
        """Every slot some reader holds (its latest frame, or the one before)."""
        current = self._header[_HOLDS : _HOLDS + self.readers]
        before = self._header[_HELD_BEFORE : _HELD_BEFORE + self.readers]
        return {int(s) for s in (*current, *before) if s >= 0}

    @property
    def paused(self) -> bool:
        """Whether the stream is paused: its last frame is not to be shown or processed."""
        return bool(self._header[_PAUSED])

    def set_paused(self, paused: bool) -> None:
        self._header[_PAUSED] = int(paused)

    def taken(self, reader: int) -> int:
        return int(self._header[_TAKEN + reader])

    def view(self, slot: int, width: int, height: int) -> np.ndarray:
        if width * height * 3 > self.capacity:
            raise RingError(f"a {width}x{height} frame does not fit a slot of this ring")
        offset = self._data_offset + slot * self._stride
        return np.ndarray((height, width, 3), np.uint8, self._map, offset)

    # --- writing ----------------------------------------------------------------------------------
    def acquire(self, width: int, height: int) -> tuple[int, np.ndarray]:
        """A free slot to write the next frame into, as a (height, width, 3) view; publish it
        with ``publish``. Never the latest slot, never one a reader holds."""
        if width * height * 3 > self.capacity:
            raise RingError(f"a {width}x{height} frame does not fit a slot of this ring")
        latest = int(self._header[_LATEST_SLOT])
        for step in range(1, self.slots + 1):
            slot = (self._next + step) % self.slots
            if slot == latest or slot in self.held():
                continue
            previous = int(self._slot_headers[slot, _SEQ])
            self._slot_headers[slot, _SEQ] = -1
            if slot in self.held():  # a reader took it between the two looks: leave it
                self._slot_headers[slot, _SEQ] = previous
                continue
            self._next = slot
            return slot, self.view(slot, width, height)
        raise RingError("every slot of the ring is held")  # more readers than the ring allows

    def publish(
        self,
        slot: int,
        width: int,
        height: int,
        *,
        ts_sec: int,
        ts_usec: int,
        decoded_ns: int | None = None,
    ) -> int:
        """Make the frame written into ``slot`` the latest; its sequence number."""
        seq = int(self._header[_LATEST_SEQ]) + 1
        header = self._slot_headers[slot]
        header[_WIDTH], header[_HEIGHT] = width, height
        header[_TS_SEC], header[_TS_USEC] = ts_sec, ts_usec
        header[_DECODED_NS] = time.monotonic_ns() if decoded_ns is None else decoded_ns
        header[_SEQ] = seq
        self._header[_LATEST_SLOT] = slot
        self._header[_LATEST_SEQ] = seq
        return seq

    def write(
        self, image: np.ndarray, *, ts_sec: int, ts_usec: int, decoded_ns: int | None = None
    ) -> int:
        """Copy ``image`` (H, W, 3 uint8) into a free slot and publish it; its sequence number."""
        height, width = image.shape[:2]
        slot, view = self.acquire(width, height)
        np.copyto(view, image)
        return self.publish(slot, width, height, ts_sec=ts_sec, ts_usec=ts_usec,
                            decoded_ns=decoded_ns)  # fmt: skip

    def set_writer(self, pid: int) -> None:
        self._header[_WRITER_PID] = pid

    def unread(self, seq: int) -> bool:
        """Whether no reader took frame ``seq`` (for the writer's drop count, when it publishes
        the next one). Readers that never took anything are not counted: nobody consumes
        through them."""
        taken = [self.taken(r) for r in range(self.readers)]
        active = [t for t in taken if t > 0]
        return bool(active) and max(active) < seq

    # --- reading ----------------------------------------------------------------------------------
    def take(self, reader: int, newer_than: int = 0) -> Frame | None:
        """Hold the latest frame if it is newer than ``newer_than`` (releasing the frame this
        reader held before); None, keeping the old hold, when there is none newer."""
        if not 0 <= reader < self.readers:
            raise RingError(f"reader {reader} is not one of this ring's {self.readers}")
        previous = int(self._header[_HOLDS + reader])
        before = int(self._header[_HELD_BEFORE + reader])
        for _ in range(8):
            slot = int(self._header[_LATEST_SLOT])
            if slot < 0 or int(self._header[_LATEST_SEQ]) <= newer_than:
                return None
            self._header[_HOLDS + reader] = slot
            frame = self._frame(slot)
            if frame is not None and frame.seq > newer_than:
                self._header[_TAKEN + reader] = frame.seq
                # The frame taken before stays held; the one before that is released.
                self._header[_HELD_BEFORE + reader] = previous if previous != slot else -1
                return frame
            self._header[_HOLDS + reader] = previous  # the writer took it over; look again
        self._header[_HELD_BEFORE + reader] = before
        return None

    def hold(self, reader: int, slot: int, seq: int) -> Frame | None:
        """Hold a given frame (a display following a ``put()``), if the slot still has it."""
        if not (0 <= reader < self.readers and 0 <= slot < self.slots):
            raise RingError(f"reader {reader} or slot {slot} is not in this ring")
        self._header[_HOLDS + reader] = slot
        frame = self._frame(slot)
        if frame is None or frame.seq != seq:
            self._header[_HOLDS + reader] = -1
            return None
        return frame

    def release(self, reader: int) -> None:
        self._header[_HOLDS + reader] = -1
        self._header[_HELD_BEFORE + reader] = -1

    def wait(self, newer_than: int, timeout: float | None) -> bool:
        """Wait until a frame newer than ``newer_than`` is published (polling, 1 ms)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while int(self._header[_LATEST_SEQ]) <= newer_than:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.001)
        return True

    def _frame(self, slot: int) -> Frame | None:
        header = self._slot_headers[slot]
        seq = int(header[_SEQ])
        if seq <= 0:
            return None
        width, height = int(header[_WIDTH]), int(header[_HEIGHT])
        return Frame(
            slot=slot, seq=seq, image=self.view(slot, width, height),
            ts_sec=int(header[_TS_SEC]), ts_usec=int(header[_TS_USEC]),
            decoded_ns=int(header[_DECODED_NS]),
        )  # fmt: skip
