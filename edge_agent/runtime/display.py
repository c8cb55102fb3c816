"""The display sink of an output node: ``python -m edge_agent.runtime.display --config FILE``.

A code node's ``put()`` sends a :class:`~edge_agent.runtime.config.PutRecord` datagram to the
display's socket (``display-<node>.sock``): which slot of which ring holds each stream's frame,
and the labels and rectangles to draw on it. The display holds that slot (its own reader index
in the ring, from the config), scales the frame into its tile of the canvas and draws the
overlays onto the canvas it keeps, then copies the canvas into a slot of its output ring
(``display-<node>.ring``, created by the agent, which reads it as reader 0 for "View output").
One stream fills the canvas, letterboxed; several are tiled (2 side by side, 3-4 in 2x2, up to 9
in 3x3). Every stream keeps its last tile, so a ``put()`` for one stream redraws only its own
tile; a paused camera's tile leaves the canvas (the rest are laid out again) until the camera
resumes and its frames are put again.

A ``put()`` whose frame the camera already overwrote (the code node was slower than the ring)
is skipped and counted: the next one carries a newer frame.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import cv2
import numpy as np

from edge_agent.runtime import report
from edge_agent.runtime.config import DisplayConfig, PutMedia, PutRecord, load
from edge_agent.runtime.records import MAX_PUT_RECORD
from edge_agent.runtime.ring import Frame, FrameRing, RingError

logger = logging.getLogger("display")

MAX_TILES = 9
RECT_COLOUR = (0, 0, 255)  # BGR red
LABEL_COLOUR = (255, 255, 255)
RECT_THICKNESS = 2
FONT = cv2.FONT_HERSHEY_SIMPLEX


def grid(count: int) -> tuple[int, int]:
    """(columns, rows) of the canvas for ``count`` streams."""
    if count <= 1:
        return 1, 1
    if count == 2:
        return 2, 1
    if count <= 4:
        return 2, 2
    return 3, 3


def letterbox(width: int, height: int, cell_w: int, cell_h: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of a ``width`` x ``height`` frame scaled into a cell, aspect kept, centred."""
    scale = min(cell_w / width, cell_h / height)
    w = max(1, min(cell_w, round(width * scale)))
    h = max(1, min(cell_h, round(height * scale)))
    return (cell_w - w) // 2, (cell_h - h) // 2, w, h


def _clamp(value: float) -> float:
    return 0.0 if not math.isfinite(value) else min(1.0, max(0.0, value))


def draw_overlays(area: np.ndarray, media: PutMedia) -> None:
    """Rectangles (red, 2 px) and labels (white) onto ``area``, the frame as placed in its tile;
    coordinates are fractions of the frame."""
    h, w = area.shape[:2]
    for x1, y1, x2, y2 in media.rects:
        p1 = (round(_clamp(x1) * (w - 1)), round(_clamp(y1) * (h - 1)))
        p2 = (round(_clamp(x2) * (w - 1)), round(_clamp(y2) * (h - 1)))
        cv2.rectangle(area, p1, p2, RECT_COLOUR, RECT_THICKNESS)
    if media.labels:
        # Sized to the tile: about 1.0 on a 720-pixel-high frame, still legible in a 3x3 grid.
        scale = max(0.35, h / 720)
        thickness = max(1, round(scale * 2))
        for text, x, y in media.labels:
            origin = (round(_clamp(x) * w), round(_clamp(y) * h))
            cv2.putText(area, text[:200], origin, FONT, scale, LABEL_COLOUR, thickness, cv2.LINE_AA)


@dataclass
class Tile:
    decoded_ns: int
    shown: tuple[str, int] = ("", 0)  # the (ring, seq) of the frame it shows
    # Where its last frame lies in its cell (x, y, w, h): the rest of the cell is black.
    placed: tuple[int, int, int, int] | None = None


class Metrics:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.frames = 0
        self.media = 0  # frames of the streams shown (a canvas may show several new ones)
        self.skipped = 0
        self._since = time.monotonic()
        self._frames_then = 0
        self._latencies: list[float] = []

    def composed(self, latencies_ms: list[float]) -> None:
        """One canvas published, showing one new frame per latency given (a frame put again,
        as a cached one is, is not counted again)."""
        self.frames += 1
        self.media += len(latencies_ms)
        self._latencies.extend(latencies_ms)

    def due(self) -> bool:
        return time.monotonic() - self._since >= self.interval

    def emit(self) -> dict[str, float | int | None]:
        now = time.monotonic()
        elapsed = max(now - self._since, 1e-6)
        values: dict[str, float | int | None] = {
            "frames": self.frames,
            "media": self.media,
            "fps": round((self.frames - self._frames_then) / elapsed, 2),
            "skipped": self.skipped,
            "latency_ms_p50": None,
            "latency_ms_p99": None,
        }
        if self._latencies:
            values["latency_ms_p50"] = round(float(np.percentile(self._latencies, 50)), 2)
            values["latency_ms_p99"] = round(float(np.percentile(self._latencies, 99)), 2)
        self._since, self._frames_then, self._latencies = now, self.frames, []
        report.metrics(values)
        return values


class Display:
    def __init__(self, config: DisplayConfig) -> None:
        self.config = config
        self.runtime_dir = Path(config.runtime_dir)
        self.width, self.height = config.width, config.height
        self.output = FrameRing.open(self.runtime_dir / config.ring)
        self.output.set_writer(os.getpid())
        self.rings: dict[str, FrameRing] = {}
        self.tiles: dict[str, Tile] = {}  # by stream, in the order streams first appeared
        # What is shown, composed here and copied into an output slot for each publish.
        self.canvas = np.zeros((self.height, self.width, 3), np.uint8)
        self._laid_out: list[str] = []  # the tiles the canvas is laid out for, in order
        self._cell_of: dict[str, np.ndarray] = {}  # each tile's cell: a view into the canvas
        self.metrics = Metrics(config.metrics_interval_s)
        self.socket_path = self.runtime_dir / config.socket
        self.sock: socket.socket | None = None
        self._warned: set[str] = set()

    # --- the socket -------------------------------------------------------------------------
    def bind(self) -> None:
        self.socket_path.unlink(missing_ok=True)  # a stale one of a crashed run
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(str(self.socket_path))
        # The code node runs sandboxed, possibly as another user: anyone may send puts.
        os.chmod(self.socket_path, 0o666)  # noqa: S103 - the folder is private to the instance
        sock.settimeout(min(0.2, self.config.metrics_interval_s))
        self.sock = sock

    def serve(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(MAX_PUT_RECORD)
            except TimeoutError:
                data = None
            if data is not None:
                self.handle(data)
            else:
                self.drop_paused()
            if self.metrics.due():
                self.metrics.emit()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.socket_path.unlink(missing_ok=True)

    # --- one put() --------------------------------------------------------------------------
    def handle(self, data: bytes) -> bool:
        """Compose and publish the canvas for one datagram; False if nothing was published."""
        try:
            record = PutRecord.model_validate_json(data)
        except ValueError as exc:  # records.py names the field and what is wrong
            logger.warning("Ignored an invalid put() record: %s", exc)
            return False
        return self.compose(record.media)

    def drop_paused(self) -> bool:
        """Take the tiles of paused cameras off the canvas (the others fill it again); whether
        the canvas changed."""
        paused = [key for key in self.tiles if self._paused(key)]
        if not paused:
            return False
        for key in paused:
            del self.tiles[key]
        return self.compose([], redraw=True)

    def _paused(self, stream_id: str) -> bool:
        name = self.config.streams.get(stream_id)
        ring = self._ring(name) if name else None
        return ring is not None and ring.paused

    def compose(self, media: list[PutMedia], *, redraw: bool = False) -> bool:
        """Draw the frames put into their tiles and publish the canvas; with ``redraw``, publish
        the remaining tiles even when no new frame is drawn."""
        wanted: dict[str, PutMedia] = {}  # by stream; the last one wins
        for item in media:
            key = item.stream_id or item.ring
            if self._paused(key):
                continue  # put just before the pause reached the code node
            new = key not in self.tiles and key not in wanted
            if new and len(self.tiles) + sum(k not in self.tiles for k in wanted) >= MAX_TILES:
                self._warn_once("tiles", f"More than {MAX_TILES} streams: the rest are not shown.")
                continue
            wanted[key] = item
        if not wanted and not redraw:
            return False
        try:
            slot, published = self.output.acquire(self.width, self.height)
        except RingError as exc:
            self._warn_once("acquire", f"The output ring has no free slot: {exc}")
            return False
        added = [key for key in wanted if key not in self.tiles]
        for key in added:
            self.tiles[key] = Tile(0)
        if list(self.tiles) != self._laid_out:
            self._lay_out()
        cells = self._cell_of
        newest = 0
        drawn: set[str] = set()
        new_frames: list[str] = []  # drawn for the first time (a cached frame comes again)
        for key, item in wanted.items():
            # Hold, draw, release one at a time: a reader holds one slot per ring, and two
            # streams may share a ring (a code node's out ring).
            frame = self._hold(item)
            if frame is None:
                continue
            tile = self.tiles[key]
            try:
                self._draw(cells[key], tile, frame, item)
            finally:
                self.rings[item.ring].release(self.config.readers[item.ring])
            if tile.shown != (item.ring, item.seq):
                new_frames.append(key)
            tile.shown = (item.ring, item.seq)
            tile.decoded_ns = frame.decoded_ns or item.decoded_ns
            newest = max(newest, tile.decoded_ns)
            drawn.add(key)
        for key in added:
            if key not in drawn:
                # Its frame was gone already: no empty tile for it (the layout goes back).
                del self.tiles[key]
        if not drawn and not redraw:
            return False  # the slot stays unpublished; the writer reuses it next time
        if list(self.tiles) != self._laid_out:
            self._lay_out()
        # The canvas in this process holds every tile's last frame: one copy publishes it, where
        # redrawing the other tiles into the slot would copy as much and clear it first.
        np.copyto(published, self.canvas)
        now = time.monotonic_ns()
        decoded = newest or now
        self.output.publish(slot, self.width, self.height, ts_sec=int(time.time()), ts_usec=0,
                            decoded_ns=decoded)  # fmt: skip
        self.metrics.composed([(now - self.tiles[key].decoded_ns) / 1e6 for key in new_frames])
        return True

    def _cells(self) -> dict[str, np.ndarray]:
        columns, rows = grid(len(self.tiles))
        cell_w, cell_h = self.width // columns, self.height // rows
        cells = {}
        for index, key in enumerate(self.tiles):
            x0, y0 = (index % columns) * cell_w, (index // columns) * cell_h
            cells[key] = self.canvas[y0 : y0 + cell_h, x0 : x0 + cell_w]
        return cells

    def _lay_out(self) -> None:
        """The tiles changed (a stream came or left): draw the canvas again in the new grid,
        each remaining tile rescaled from where it was."""
        before = {key: cell.copy() for key, cell in self._cell_of.items() if key in self.tiles}
        self.canvas[:] = 0
        self._laid_out = list(self.tiles)
        self._cell_of = cells = self._cells()
        for key, image in before.items():
            if image.size:
                cv2.resize(image, (cells[key].shape[1], cells[key].shape[0]), dst=cells[key])
            self.tiles[key].placed = None  # where its frame lies in the cell: to find again

    def _draw(self, cell: np.ndarray, tile: Tile, frame: Frame, media: PutMedia) -> None:
        fh, fw = frame.image.shape[:2]
        placed = letterbox(fw, fh, cell.shape[1], cell.shape[0])
        if placed != tile.placed:
            cell[:] = 0  # the letterbox bars of a frame of another size
            tile.placed = placed
        x, y, w, h = placed
        area = cell[y : y + h, x : x + w]
        cv2.resize(frame.image, (w, h), dst=area, interpolation=cv2.INTER_LINEAR)
        draw_overlays(area, media)

    def _hold(self, media: PutMedia) -> Frame | None:
        ring = self._ring(media.ring)
        if ring is None:
            return None
        try:
            frame = ring.hold(self.config.readers[media.ring], media.slot, media.seq)
        except RingError as exc:
            self._warn_once(f"hold:{media.ring}", f"put() refers to {media.ring}: {exc}")
            return None
        if frame is None:
            # The writer reused the slot before we got here: that frame is gone.
            self.metrics.skipped += 1
        return frame

    def _ring(self, name: str) -> FrameRing | None:
        ring = self.rings.get(name)
        if ring is not None:
            return ring
        if name not in self.config.readers or Path(name).name != name:
            self._warn_once(f"unknown:{name}", f"put() refers to a ring it may not use: {name!r}")
            return None
        try:
            ring = self.rings[name] = FrameRing.open(self.runtime_dir / name)
        except RingError as exc:
            # The ring may appear later (a code node's out ring): try again with the next put.
            self._warn_once(f"open:{name}", f"Cannot open the ring {name}: {exc}")
            return None
        return ring

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning("%s", message)


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_agent.runtime.display")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    report.setup_logging()
    signal.signal(signal.SIGTERM, _stop)
    # OpenCV's own threads would spread each resize over every CPU: they cost the machine more
    # CPU in all (a sixth more for a tile) on CPUs the model server and the cameras need.
    cv2.setNumThreads(1)
    try:
        config = load(DisplayConfig, args.config)
        display = Display(config)
        display.bind()
    except (OSError, ValueError, RingError) as exc:
        logger.error("The display cannot start: %s", exc)
        report.status("ERROR", f"The display cannot start: {exc}")
        return 1
    logger.info("Listening for put() on %s.", display.socket_path)
    report.status("RUNNING")
    try:
        display.serve()
    except KeyboardInterrupt:
        pass
    finally:
        display.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
