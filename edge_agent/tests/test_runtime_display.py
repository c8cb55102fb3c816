"""The display sink as a real process: rings and put() datagrams written by the test, the
composed canvas read back from its output ring as the agent reads it (reader 0)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.runtime import report
from edge_agent.runtime.config import DisplayConfig
from edge_agent.runtime.ring import Frame, FrameRing
from tests.support.waiting import wait_for

BASE_DIR = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 320, 180
BLUE, GREEN, RED, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


class DisplayProcess:
    def __init__(self, folder: Path, rings: list[str]) -> None:
        self.folder = folder
        self.cams = {name: FrameRing.create(folder / name, slots=6, readers=2) for name in rings}
        self.out = FrameRing.create(folder / "display-out.ring", slots=4, readers=1,
                                    capacity=WIDTH * HEIGHT * 3)  # fmt: skip
        config = DisplayConfig(
            node="output_node", runtime_dir=str(folder), socket="display-out.sock",
            ring="display-out.ring", readers={name: 1 for name in rings},
            streams={name.removeprefix("cam-").removesuffix(".ring"): name for name in rings},
            width=WIDTH, height=HEIGHT, metrics_interval_s=0.2,
        )  # fmt: skip
        (folder / "display.json").write_text(config.model_dump_json())
        self.events: list[dict[str, Any]] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.runtime.display", "--config",
             str(folder / "display.json")],
            cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.stderr: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.last_seq = 0
        wait_for(lambda: {"status": "RUNNING", "message": ""} in self.events, 20)

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            event = report.parse(line)
            if event is not None:
                self.events.append(event)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line)

    def metrics(self) -> list[dict[str, Any]]:
        return [e["metrics"] for e in self.events if "metrics" in e]

    def write(self, ring: str, colour, width: int, height: int, *, decoded_ns: int | None = None):
        """A solid frame into a camera ring: (slot, seq)."""
        slot, view = self.cams[ring].acquire(width, height)
        view[:] = colour
        seq = self.cams[ring].publish(slot, width, height, ts_sec=1, ts_usec=0,
                                      decoded_ns=decoded_ns)  # fmt: skip
        return slot, seq

    def put(self, *media: dict[str, Any]) -> None:
        record = {"node": "code_node", "port": "video_out", "put_ns": time.monotonic_ns(),
                  "media": list(media)}  # fmt: skip
        self.sock.sendto(json.dumps(record).encode(), str(self.folder / "display-out.sock"))

    def next_frame(self) -> Frame:
        """The next composed canvas (waits for it), held as reader 0."""
        frame = wait_for(lambda: self.out.take(0, self.last_seq), 10)
        self.last_seq = frame.seq
        return frame

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        self.sock.close()


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to 108 bytes: pytest's tmp_path can be longer.
    folder = Path(tempfile.mkdtemp(prefix="vdisp-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def display(runtime_dir) -> Iterator[DisplayProcess]:
    process = DisplayProcess(runtime_dir, ["cam-a.ring", "cam-b.ring", "cam-c.ring"])
    yield process
    process.stop()


def media(ring: str, slot: int, seq: int, stream: str, **extra: Any) -> dict[str, Any]:
    return {"ring": ring, "slot": slot, "seq": seq, "stream_id": stream, **extra}


def colour_at(image: np.ndarray, y: int, x: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in image[y, x])


def test_one_stream_fills_the_canvas_letterboxed_with_rects_labels_and_latency(display):
    assert stat_mode(display.folder / "display-out.sock") == 0o666
    decoded = time.monotonic_ns() - 50_000_000  # decoded 50 ms ago
    # 4:3 into 16:9: 240x180, centred, 40 black columns on either side.
    slot, seq = display.write("cam-a.ring", GREEN, 320, 240, decoded_ns=decoded)
    display.put(media("cam-a.ring", slot, seq, "cam_a", rects=[(0.25, 0.25, 0.75, 0.75)],
                      labels=[("person 0.93", 0.05, 0.95)]))  # fmt: skip
    frame = display.next_frame()
    image = frame.image
    assert image.shape == (HEIGHT, WIDTH, 3)
    assert frame.decoded_ns == decoded
    assert colour_at(image, 90, 20) == (0, 0, 0)  # letterbox
    assert colour_at(image, 90, 300) == (0, 0, 0)
    assert colour_at(image, 90, 150) == GREEN  # inside the rect: not filled
    assert colour_at(image, 10, 60) == GREEN  # outside the rect
    # The rect's edges: x = 40 + 0.25 * 239 ≈ 100, y = 0.25 * 179 ≈ 45, 2 px wide.
    assert colour_at(image, 90, 100) == RED
    assert colour_at(image, 90, 40 + 179) == RED
    assert colour_at(image, 45, 150) == RED
    assert colour_at(image, 134, 150) == RED
    assert colour_at(image, 90, 96) == GREEN  # 2 px, not more
    # The label: white text near the bottom left of the frame, nowhere else.
    white = image[:, :, 0] > 128  # anti-aliased white on green: only the text has blue in it
    assert white[140:180, 40:200].sum() > 20
    assert white.sum() == white[140:180, 40:200].sum()
    wait_for(lambda: any(m["frames"] >= 1 and m["latency_ms_p50"] for m in display.metrics()))
    latest = [m for m in display.metrics() if m["latency_ms_p50"]][-1]
    assert 50 <= latest["latency_ms_p50"] < 5000
    assert latest["latency_ms_p99"] >= latest["latency_ms_p50"]
    assert {"frames", "fps", "skipped"} <= latest.keys()


def stat_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_streams_are_tiled_and_each_keeps_its_last_tile(display):
    slot, seq = display.write("cam-a.ring", BLUE, 320, 180)
    display.put(media("cam-a.ring", slot, seq, "a"))
    assert colour_at(display.next_frame().image, 90, 160) == BLUE
    # A second stream: side by side, each 160x180 with a 16:9 frame letterboxed into it.
    slot, seq = display.write("cam-b.ring", GREEN, 320, 180)
    display.put(media("cam-b.ring", slot, seq, "b", rects=[(0.0, 0.0, 1.0, 1.0)]))
    image = display.next_frame().image
    assert colour_at(image, 90, 80) == BLUE  # a's tile, kept from its last put
    assert colour_at(image, 90, 240) == GREEN
    assert colour_at(image, 20, 240) == (0, 0, 0)  # letterbox of b's tile (90 px high)
    # b's rect covers its whole frame: the frame's edges in its tile (y 45..134, x 160..319).
    assert colour_at(image, 46, 240) == RED and colour_at(image, 90, 161) == RED
    assert colour_at(image, 46, 80) == BLUE  # nothing of b's overlays on a's tile
    # A third: 2x2.
    slot, seq = display.write("cam-c.ring", RED, 320, 180)
    display.put(media("cam-c.ring", slot, seq, "c"))
    image = display.next_frame().image
    assert colour_at(image, 45, 80) == BLUE  # top left, rescaled from its side-by-side tile
    assert colour_at(image, 45, 240) == GREEN  # top right
    assert colour_at(image, 135, 80) == RED  # bottom left
    assert colour_at(image, 135, 240) == (0, 0, 0)  # nobody
    # One stream's new frame redraws the whole canvas with the others' last tiles.
    slot, seq = display.write("cam-a.ring", WHITE, 320, 180)
    display.put(media("cam-a.ring", slot, seq, "a"))
    image = display.next_frame().image
    assert colour_at(image, 45, 80) == WHITE
    assert colour_at(image, 45, 240) == GREEN and colour_at(image, 135, 80) == RED


def test_a_frame_of_another_shape_gets_black_bars_not_the_last_frames_edges(display):
    slot, seq = display.write("cam-a.ring", WHITE, 320, 180)  # 16:9 fills the 16:9 canvas
    display.put(media("cam-a.ring", slot, seq, "a"))
    assert colour_at(display.next_frame().image, 90, 5) == WHITE
    slot, seq = display.write("cam-a.ring", BLUE, 240, 180)  # 4:3: bars left and right
    display.put(media("cam-a.ring", slot, seq, "a"))
    image = display.next_frame().image
    assert colour_at(image, 90, 5) == (0, 0, 0) and colour_at(image, 90, 314) == (0, 0, 0)
    assert colour_at(image, 90, 160) == BLUE


def test_a_paused_cameras_tile_leaves_the_canvas_until_it_resumes(display):
    slot, seq = display.write("cam-a.ring", BLUE, 320, 180)
    display.put(media("cam-a.ring", slot, seq, "a"))
    display.next_frame()
    slot, seq = display.write("cam-b.ring", GREEN, 320, 180)
    display.put(media("cam-b.ring", slot, seq, "b"))
    image = display.next_frame().image
    assert colour_at(image, 90, 80) == BLUE and colour_at(image, 90, 240) == GREEN

    # Paused: without any put, b fills the canvas alone, no frozen tile of a beside it.
    display.cams["cam-a.ring"].set_paused(True)
    image = display.next_frame().image
    assert colour_at(image, 90, 80) == GREEN and colour_at(image, 90, 240) == GREEN
    # A put of a's last frame that was on its way is not shown.
    display.put(media("cam-a.ring", slot, seq, "a"), media("cam-b.ring", slot, seq, "b"))
    image = display.next_frame().image
    assert colour_at(image, 90, 80) == GREEN and colour_at(image, 90, 240) == GREEN

    display.cams["cam-a.ring"].set_paused(False)
    slot, seq = display.write("cam-a.ring", WHITE, 320, 180)
    display.put(media("cam-a.ring", slot, seq, "a"))
    image = display.next_frame().image
    assert colour_at(image, 90, 80) == GREEN and colour_at(image, 90, 240) == WHITE


def test_overwritten_frames_and_invalid_records_are_skipped(display):
    slot, seq = display.write("cam-a.ring", BLUE, 320, 180)
    # The camera moves on, reusing every free slot: the frame the put names is gone.
    for _ in range(6):  # as many as the ring has slots
        display.write("cam-a.ring", GREEN, 320, 180)
    display.put(media("cam-a.ring", slot, seq, "a"))
    display.sock.sendto(b"{not json", str(display.folder / "display-out.sock"))
    display.put(media("../etc.ring", 0, 1, "x"))  # a ring outside its config
    slot, seq = display.write("cam-a.ring", RED, 320, 180)
    display.put(media("cam-a.ring", slot, seq, "a"))
    frame = display.next_frame()
    assert frame.seq == 1  # the stale put published nothing
    assert colour_at(frame.image, 90, 160) == RED
    wait_for(lambda: any(m["skipped"] == 1 and m["frames"] == 1 for m in display.metrics()))
    wait_for(lambda: any("invalid put() record" in line for line in display.stderr))
    assert any("may not use" in line for line in display.stderr)
    assert display.process.poll() is None


def test_sigterm_stops_it_at_once_and_removes_its_socket(display):
    started = time.monotonic()
    display.process.send_signal(signal.SIGTERM)
    assert display.process.wait(5) == 0
    assert time.monotonic() - started < 2
    assert not (display.folder / "display-out.sock").exists()


def test_a_stale_socket_is_replaced(runtime_dir):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(str(runtime_dir / "display-out.sock"))
    stale.close()  # a crashed display's socket file stays behind
    process = DisplayProcess(runtime_dir, ["cam-a.ring"])
    try:
        slot, seq = process.write("cam-a.ring", GREEN, 64, 36)
        process.put(media("cam-a.ring", slot, seq, "a"))
        assert colour_at(process.next_frame().image, 90, 160) == GREEN
    finally:
        process.stop()


def test_a_frame_put_again_is_shown_but_not_counted_again(display):
    slot, seq = display.write("cam-a.ring", BLUE, 320, 180)
    display.put(media("cam-a.ring", slot, seq, "a"))
    display.next_frame()
    display.put(media("cam-a.ring", slot, seq, "a"))  # a cached frame, put with the next batch
    display.next_frame()
    wait_for(lambda: any(m["frames"] == 2 and m["media"] == 1 for m in display.metrics()))
