"""The HDMI output: who owns the display, and frames encoded only while someone watches."""

from __future__ import annotations

import base64
import itertools
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge_agent.apps import hdmi as hdmi_module
from edge_agent.apps.hdmi import Hdmi
from edge_agent.runtime.ring import FrameRing
from tests.support.waiting import wait_for

BLUE, GREEN = (255, 0, 0), (0, 255, 0)


class Sink:
    """The link's live send: keeps what was sent; ``up`` False is a link that is down."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.up = True
        self.lock = threading.Lock()

    def __call__(self, message: dict[str, Any]) -> bool:
        if not self.up:
            return False
        with self.lock:
            self.messages.append(message)
        return True

    def frames(self, owner: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                m for m in self.messages if owner is None or m["application_instance_id"] == owner
            ]


class Writer:
    """A display process stand-in: solid frames into a display ring, 100 a second."""

    def __init__(self, path: Path, colour) -> None:
        self.ring = FrameRing.create(path, slots=4, readers=1, capacity=64 * 48 * 3)
        self.colour = colour
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        image = np.zeros((48, 64, 3), np.uint8)
        while not self._stop.wait(0.01):
            image[:] = self.colour
            self.ring.write(image, ts_sec=0, ts_usec=0)
            self.written += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vhdmi-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def writers(folder) -> Iterator[dict[str, Writer]]:
    made = {
        "a": Writer(folder / "display-a.ring", BLUE),
        "b": Writer(folder / "display-b.ring", GREEN),
    }
    yield made
    for writer in made.values():
        writer.stop()


def decode(message: dict[str, Any]) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(message["jpeg"]), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def near(pixel, colour) -> bool:
    return all(abs(int(p) - c) < 40 for p, c in zip(pixel, colour, strict=True))


def test_the_most_recent_claimant_owns_the_display_and_release_falls_back(folder):
    hdmi = Hdmi(Sink())
    assert hdmi.owner is None
    hdmi.claim("app-a", folder / "a.ring")
    hdmi.claim("app-b", folder / "b.ring")
    hdmi.claim("app-c", folder / "c.ring")
    assert hdmi.owner == "app-c"
    hdmi.release("app-c")
    assert hdmi.owner == "app-b"
    hdmi.release("app-a")  # not the owner: nothing changes
    assert hdmi.owner == "app-b"
    hdmi.claim("app-a", folder / "a.ring")  # restarted: the most recent again
    assert hdmi.owner == "app-a"
    hdmi.release("app-a")
    assert hdmi.owner == "app-b"
    hdmi.release("app-b")
    hdmi.release("app-b")  # twice is harmless
    assert hdmi.owner is None
    hdmi.close()


def test_frames_only_while_watched_at_most_max_fps(folder, writers):
    sink = Sink()
    hdmi = Hdmi(sink, max_fps=5)
    hdmi.claim("app-a", folder / "display-a.ring")
    try:
        start = writers["a"].written
        wait_for(lambda: writers["a"].written >= start + 20, 10)
        assert hdmi.encoded == 0 and sink.messages == []  # nobody watches: nothing encoded

        hdmi.watch(time.time() + 1.2)
        wait_for(lambda: len(sink.frames("app-a")) >= 3, 10)
        first = sink.frames("app-a")[0]
        assert (first["type"], first["width"], first["height"]) == ("output_frame", 64, 48)
        assert near(decode(first)[24, 32], BLUE)
        wait_for(lambda: not hdmi.watched, 10)
        times = [m["time"] for m in sink.frames("app-a")]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= 0.18, gaps  # 5 a second at most, though 100 a second are written

        # Watching ended: the writer keeps writing, the encoder does nothing.
        encoded = hdmi.encoded
        start = writers["a"].written
        wait_for(lambda: writers["a"].written >= start + 30, 10)
        assert hdmi.encoded - encoded <= 1  # at most the one under way as the time ran out
        assert not hdmi.watched
    finally:
        hdmi.close()


def test_the_owner_changes_while_watched(folder, writers):
    sink = Sink()
    hdmi = Hdmi(sink, max_fps=20)
    hdmi.claim("app-a", folder / "display-a.ring")
    hdmi.watch(time.time() + 30)
    try:
        wait_for(lambda: sink.frames("app-a"), 10)
        hdmi.claim("app-b", folder / "display-b.ring")
        wait_for(lambda: sink.frames("app-b"), 10)
        assert near(decode(sink.frames("app-b")[-1])[24, 32], GREEN)
        hdmi.release("app-b")
        seen = len(sink.frames("app-a"))
        wait_for(lambda: len(sink.frames("app-a")) > seen, 10)
        assert near(decode(sink.frames("app-a")[-1])[24, 32], BLUE)
    finally:
        hdmi.close()


def test_watched_with_no_owner_says_so_now_and_then(monkeypatch):
    monkeypatch.setattr(hdmi_module, "NOBODY_EVERY_S", 0.2)
    sink = Sink()
    hdmi = Hdmi(sink)
    hdmi.watch(time.time() + 30)
    try:
        wait_for(lambda: len(sink.messages) >= 3, 10)
        assert all(m["application_instance_id"] == "" and m["jpeg"] == "" for m in sink.messages)
        assert hdmi.encoded == 0
    finally:
        hdmi.close()


def test_frames_are_dropped_while_the_link_is_down(folder, writers):
    sink = Sink()
    sink.up = False
    hdmi = Hdmi(sink, max_fps=50)
    hdmi.claim("app-a", folder / "display-a.ring")
    hdmi.watch(time.time() + 30)
    try:
        wait_for(lambda: hdmi.dropped >= 3, 10)
        sink.up = True
        wait_for(lambda: sink.frames("app-a"), 10)
    finally:
        hdmi.close()


def test_a_missing_display_ring_is_waited_for(folder):
    sink = Sink()
    hdmi = Hdmi(sink, max_fps=50)
    hdmi.claim("app-a", folder / "display-late.ring")  # the display has not created it yet
    hdmi.watch(time.time() + 30)
    try:
        writer = Writer(folder / "display-late.ring", GREEN)
        try:
            wait_for(lambda: sink.frames("app-a"), 10)
        finally:
            writer.stop()
    finally:
        hdmi.close()
