"""The camera node process, run for real: RTSP from GStreamer's server, files made with PyAV,
frames read back from the FrameRing as a consumer would."""

from __future__ import annotations

import itertools
import json
import math
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from edge_agent.runtime import report
from edge_agent.runtime.camera import scaled_size
from edge_agent.runtime.ring import MAX_PIXELS, Frame, FrameRing
from streamcheck.probe import NOT_H264
from tests.support.cameras import start_rtsp_server, stop_process
from tests.support.paths import BASE_DIR, MEDIA_DIR
from tests.support.ports import free_port
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

UNAUTHORIZED = "Failed to get SDP description: 401 Unauthorized; with the result code: 401"


class CameraProcess:
    """``python -m edge_agent.runtime.camera`` on a ring of the test's own, read as reader 0."""

    def __init__(self, tmp_path: Path, url: str, secrets: dict | str | None = None, **options):
        self.ring = FrameRing.create(tmp_path / "cam-front.ring", slots=8, readers=2)
        config = {
            "node": "front",
            "runtime_dir": str(tmp_path),
            "ring": "cam-front.ring",
            "url": url,
            "open_timeout_s": 3.0,
            "read_timeout_s": 2.0,
            "backoff_base_s": 0.1,
            "backoff_cap_s": 0.5,
            "metrics_interval_s": 0.2,
            **options,
        }
        config_path = tmp_path / "camera.json"
        config_path.write_text(json.dumps(config))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge_agent.runtime.camera", "--config", str(config_path)],
            cwd=BASE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = secrets if isinstance(secrets, str) else json.dumps(secrets or {})
        self.process.stdin.write(line + "\n")
        self.process.stdin.close()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._collect, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self.stdout),
                (self.process.stderr, self.stderr),
            )
        ]
        for reader in self._readers:
            reader.start()
        self.seq = 0  # the last frame taken as reader 0

    @staticmethod
    def _collect(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    # --- what the process said -------------------------------------------------------------
    def events(self) -> list[dict]:
        return [event for line in list(self.stdout) if (event := report.parse(line)) is not None]

    def statuses(self) -> list[tuple[str, str]]:
        return [(e["status"], e["message"]) for e in self.events() if "status" in e]

    def metrics(self) -> dict:
        found = [e["metrics"] for e in self.events() if "metrics" in e]
        return found[-1] if found else {}

    def output(self) -> str:
        return "\n".join(self.stdout + self.stderr)

    def wait_status(self, state: str, message: str | None = None, *, after: int = 0,
                    timeout: float = 10.0) -> int:  # fmt: skip
        """Wait for a status event past the first ``after`` ones; the index after it."""

        def seen() -> int:
            self._check_alive()
            for index, (got, text) in enumerate(self.statuses()[after:], after):
                if got == state and (message is None or text == message):
                    return index + 1
            return 0

        return wait_for(seen, timeout, f"status {state} {message or ''} in {self.output()!r}")

    def wait_metrics(self, condition, timeout: float = 10.0) -> dict:
        def met() -> dict:
            self._check_alive()
            values = self.metrics()
            return values if values and condition(values) else {}

        return wait_for(met, timeout, f"metrics meeting the condition in {self.output()!r}")

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"the camera exited early:\n{self.output()}")

    # --- frames ------------------------------------------------------------------------------
    def take(self, timeout: float = 10.0) -> Frame:
        """The next frame (the latest one newer than the last taken), as reader 0."""
        self._check_alive()
        if not self.ring.wait(self.seq, timeout):
            raise AssertionError(f"no frame after seq {self.seq} in {timeout} s:\n{self.output()}")
        frame = self.ring.take(0, self.seq)
        assert frame is not None
        self.seq = frame.seq
        return frame

    def stop(self, timeout: float = 5.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        returncode = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return returncode


@pytest.fixture
def camera(tmp_path):
    started: list[CameraProcess] = []

    def start(url: str, secrets: dict | str | None = None, **options) -> CameraProcess:
        process = CameraProcess(tmp_path, url, secrets, **options)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            stop_process(process.process)


def make_clip(path: Path, width: int, height: int, frames: int, rate: int = 30) -> Path:
    """An H.264 MP4: left half dark, right half bright, with a moving bright bar."""
    with av.open(str(path), "w") as output:
        stream = output.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "bf": "0"}
        for index in range(frames):
            image = np.full((height, width, 3), 40, np.uint8)
            image[:, width // 2 :] = 210
            bar = index * 8 % height
            image[bar : bar + 4, :] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def stamp(frame: Frame) -> float:
    return frame.ts_sec + frame.ts_usec / 1e6


# --- the sizes frames are published at --------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((768, 576), (768, 576)),
        ((1920, 1080), (1920, 1080)),
        ((2560, 1440), (1920, 1080)),
        ((3840, 2160), (1920, 1080)),
        ((2688, 1512), (1920, 1080)),
    ],
)
def test_scaled_size(size, expected):
    assert scaled_size(*size) == expected


@pytest.mark.parametrize(
    "size", [(2048, 1536), (4000, 3000), (2592, 1944), (3000, 1000), (1081, 1920 * 2)]
)
def test_scaled_size_other_aspect_ratios(size):
    width, height = scaled_size(*size)
    assert width * height <= MAX_PIXELS
    assert width * height > MAX_PIXELS * 0.99  # nothing thrown away beyond rounding
    assert width % 2 == 0 and height % 2 == 0
    assert math.isclose(width / height, size[0] / size[1], rel_tol=0.005)


# --- RTSP -------------------------------------------------------------------------------------


def test_frames_from_an_rtsp_stream(camera, rtsp_server):
    cam = camera(rtsp_server.url("open"))
    cam.wait_status("RUNNING", "")
    frames = [cam.take() for _ in range(10)]
    for frame in frames:
        assert frame.image.shape == (576, 768, 3)
        assert frame.image.dtype == np.uint8
        assert 30 < frame.image.mean() < 220 and frame.image.std() > 10  # a picture, not a fill
    assert all(a.seq < b.seq for a, b in itertools.pairwise(frames))
    assert all(stamp(a) < stamp(b) for a, b in itertools.pairwise(frames))
    # Each frame's time stamp follows the stream's 30 fps clock.
    span = stamp(frames[-1]) - stamp(frames[0])
    assert span == pytest.approx((frames[-1].seq - frames[0].seq) / 30, abs=0.05)
    assert int(cam.ring._header[7]) == cam.process.pid  # set_writer
    assert "Stream opened: h264 768x576 at 30 fps" in "\n".join(cam.stderr)
    assert cam.stop() == 0
    assert cam.metrics()["frames"] >= 10
    assert cam.metrics()["reconnects"] == 0


def test_credentials_from_stdin(camera, rtsp_server):
    cam = camera(
        rtsp_server.url("auth"),
        {"username": rtsp_server.user, "password": rtsp_server.password},
    )
    cam.wait_status("RUNNING", "")
    assert cam.take().image.shape == (576, 768, 3)
    assert cam.stop() == 0
    assert rtsp_server.password not in cam.output()


def test_wrong_credentials(camera, rtsp_server):
    password = "Wrong-pass-5521"
    cam = camera(rtsp_server.url("auth"), {"username": rtsp_server.user, "password": password})
    cam.wait_status("ERROR", UNAUTHORIZED)
    cam.wait_metrics(lambda m: m["reconnects"] >= 2)  # it keeps trying: the operator may fix it
    assert cam.stop() == 0
    assert any(line.startswith(f"WARNING Stream down: {UNAUTHORIZED}") for line in cam.stderr)
    assert password not in cam.output()
    assert cam.ring.latest_seq == 0


def test_h265_is_refused(camera, rtsp_server):
    cam = camera(rtsp_server.url("h265"))
    cam.wait_status("ERROR", NOT_H264)
    cam.wait_metrics(lambda m: m["reconnects"] >= 2)
    assert cam.stop() == 0
    assert ("RUNNING", "") not in cam.statuses()
    assert cam.ring.latest_seq == 0


def test_secrets_that_are_not_json_are_refused_without_echo(camera, rtsp_server):
    cam = camera(rtsp_server.url("auth"), '{"password": "Leaky-9931", "token": 1}')
    assert cam.process.wait(timeout=10) == 2
    cam.stop()
    assert "not a valid JSON line" in cam.output()
    assert "Leaky-9931" not in cam.output()


def test_server_going_away_and_coming_back(camera, tmp_path):
    server = start_rtsp_server(tmp_path)
    try:
        cam = camera(server.url("open"), read_timeout_s=2.0)
        after = cam.wait_status("RUNNING", "")
        before = cam.take()
        stop_process(server.process)
        # TCP tells of a server that died at once; the read timeout bounds the silent kind.
        after = cam.wait_status("ERROR", after=after, timeout=2.0 + 3)
        assert cam.statuses()[after - 1][1]  # a reason
        assert any(line.startswith("WARNING Stream down: ") for line in cam.stderr)
        server = start_rtsp_server(tmp_path, port=server.port)
        cam.wait_status("RUNNING", "", after=after, timeout=15)
        frame = cam.take()
        assert frame.seq > before.seq and stamp(frame) > stamp(before)
        cam.wait_metrics(lambda m: m["reconnects"] >= 1)
        assert cam.process.poll() is None  # the same process all along
        assert cam.stop() == 0
    finally:
        stop_process(server.process)


def test_a_silent_camera_is_lost_after_the_read_timeout(camera, rtsp_server):
    proxy = TcpProxy("127.0.0.1", rtsp_server.port)
    try:
        cam = camera(f"rtsp://127.0.0.1:{proxy.port}/open", read_timeout_s=1.0)
        after = cam.wait_status("RUNNING", "")
        cam.take()
        proxy.freeze()  # the connection stays up, nothing arrives: only the timeout can tell
        after = cam.wait_status("ERROR", "The camera sent no video for 1 s", after=after)
        proxy.thaw()
        cam.wait_status("RUNNING", "", after=after)
        assert cam.stop() == 0
    finally:
        proxy.close()


# --- recorded video -----------------------------------------------------------------------------


def test_recorded_video(camera):
    cam = camera(f"file://{MEDIA_DIR / 'pedestrians.mp4'}")
    cam.wait_status("RUNNING", "")
    frame = cam.take()
    assert frame.image.shape == (576, 768, 3)
    assert 30 < frame.image.mean() < 220
    assert cam.stop() == 0


def test_recorded_video_loops_at_its_own_rate(camera, tmp_path):
    clip = make_clip(tmp_path / "ten.mp4", 160, 120, frames=10)
    cam = camera(f"file://{clip}")
    frames = [cam.take()]
    while frames[-1].seq < 40:
        frames.append(cam.take())
    # Time stamps keep increasing over the loops, one frame time apart on the file's clock.
    assert all(stamp(a) < stamp(b) for a, b in itertools.pairwise(frames))
    first, last = frames[0], frames[-1]
    assert stamp(last) - stamp(first) == pytest.approx((last.seq - first.seq) / 30, abs=0.002)
    # Paced by the file's rate, not as fast as it decodes (which would take milliseconds).
    elapsed = (last.decoded_ns - first.decoded_ns) / 1e9
    assert elapsed >= (last.seq - first.seq) / 30 * 0.5
    assert cam.stop() == 0
    assert cam.statuses() == [("RUNNING", "")]  # looping is no disconnect
    assert cam.metrics()["reconnects"] == 0


def test_missing_recorded_video(camera, tmp_path):
    missing = tmp_path / "gone.mp4"
    cam = camera(f"file://{missing}")
    cam.wait_status("ERROR", f"Recorded video not found: {missing}")
    assert cam.stop() == 0


@pytest.mark.parametrize(("size", "expected"), [((2560, 1440), (1920, 1080)), ((2048, 1536), None)])
def test_large_frames_are_scaled_down(camera, tmp_path, size, expected):
    clip = make_clip(tmp_path / "big.mp4", *size, frames=5)
    cam = camera(f"file://{clip}")
    image = cam.take(timeout=15).image
    height, width = image.shape[:2]
    if expected:
        assert (width, height) == expected
    assert width * height <= MAX_PIXELS and width % 2 == 0 and height % 2 == 0
    assert math.isclose(width / height, size[0] / size[1], rel_tol=0.005)
    # The picture is scaled, not cropped: dark left half, bright right half, BGR.
    assert image[:, : width // 2 - 8].mean() < 90
    assert image[:, width // 2 + 8 :].mean() > 190
    assert cam.stop() == 0


# --- a file source (source/video/file): files, loopCount, fps ---------------------------------


def test_file_source_plays_its_files_in_order_loop_count_times_then_stays(camera, tmp_path):
    first = make_clip(tmp_path / "first.mp4", 160, 120, frames=6)
    second = make_clip(tmp_path / "second.mp4", 320, 240, frames=4)
    files = [f"file://{first}", f"file://{second}"]
    cam = camera(files[0], files=files, loop_count=2, fps=60)
    taken = []
    done = "The recorded videos have played 2 times (loopCount 2)"
    deadline = time.monotonic() + 30
    while not any(message == done for _, message in cam.statuses()):
        assert time.monotonic() < deadline, f"not done in 30 s:\n{cam.output()}"
        if cam.ring.wait(cam.seq, 0.2):
            taken.append(cam.take())
    assert cam.ring.latest_seq == 2 * (6 + 4)  # every frame of both files, twice, no more
    for frame in taken:  # seq 1-6 first.mp4, 7-10 second.mp4, 11-16 first.mp4, …
        expected = (120, 160, 3) if (frame.seq - 1) % 10 < 6 else (240, 320, 3)
        assert frame.image.shape == expected, frame.seq
    assert all(stamp(a) < stamp(b) for a, b in itertools.pairwise(taken))
    # Done, not dead: it stays up (a process that ended would be restarted) and sends nothing.
    values = cam.wait_metrics(lambda m: m["frames"] == 20)
    assert values["reconnects"] == 0
    assert cam.process.poll() is None and not cam.ring.wait(cam.ring.latest_seq, 0.5)
    assert cam.statuses() == [("RUNNING", ""), ("RUNNING", done)]
    assert cam.stop() == 0


def test_file_source_is_paced_at_the_fps_it_asks_for(camera, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", 160, 120, frames=5)  # a 30 fps file
    cam = camera(f"file://{clip}", files=[f"file://{clip}"], loop_count=0, fps=10)
    frames = [cam.take()]
    while frames[-1].seq < 12:  # beyond one pass: loopCount 0 plays on
        frames.append(cam.take())
    first, last = frames[0], frames[-1]
    # Time stamps are 1/10 s apart: the asked rate, not the file's 30 fps.
    assert stamp(last) - stamp(first) == pytest.approx((last.seq - first.seq) / 10, abs=0.002)
    # Paced in real time at 10 fps (3 times slower than the file's own rate would be): generous
    # bounds, for a loaded machine.
    elapsed = (last.decoded_ns - first.decoded_ns) / 1e9
    expected = (last.seq - first.seq) / 10
    assert expected * 0.6 <= elapsed <= expected + 10
    assert cam.stop() == 0


def test_file_source_loop_count_once_with_the_files_own_rate(camera, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", 160, 120, frames=8)
    cam = camera(f"file://{clip}", files=[f"file://{clip}"], loop_count=1, fps=0)
    cam.wait_status("RUNNING", "The recorded videos have played once (loopCount 1)")
    assert cam.ring.latest_seq == 8
    assert cam.stop() == 0


def test_file_source_with_a_missing_file_names_it(camera, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", 160, 120, frames=3)
    missing = tmp_path / "gone.mp4"
    cam = camera(f"file://{clip}", files=[f"file://{clip}", f"file://{missing}"], loop_count=1)
    cam.wait_status("ERROR", f"Recorded video not found: {missing}")
    assert cam.stop() == 0


# --- drops ------------------------------------------------------------------------------------


def test_frames_no_reader_took_are_counted_as_dropped(camera):
    cam = camera(f"file://{MEDIA_DIR / 'pedestrians.mp4'}")
    # Nobody has ever read: no consumer, so nothing counts as dropped.
    values = cam.wait_metrics(lambda m: m["frames"] >= 10)
    assert values["dropped"] == 0
    taken = cam.take()
    # The reader took one frame and then stopped taking: every later frame is dropped.
    values = cam.wait_metrics(lambda m: m["dropped"] >= 10)
    assert values["dropped"] <= values["frames"] - taken.seq + 1
    assert cam.stop() == 0


# --- stopping ---------------------------------------------------------------------------------


def test_sigterm_while_a_camera_never_answers(camera):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        cam = camera(f"rtsp://127.0.0.1:{listener.getsockname()[1]}/x", open_timeout_s=60)
        connection, _ = listener.accept()  # the camera is now waiting for an answer
        with connection:
            wait_for(lambda: "INFO Connecting to the stream" in cam.stderr, 5, "the connect log")
            cam.process.send_signal(signal.SIGTERM)
            # Far below the 60 s open timeout: SIGTERM does not wait for FFmpeg.
            assert cam.stop(timeout=3) == 0


def test_sigterm_while_waiting_to_reconnect(camera):
    cam = camera(f"rtsp://127.0.0.1:{free_port()}/x", backoff_base_s=60, backoff_cap_s=60)
    cam.wait_status("ERROR")
    assert "Connection refused" in cam.statuses()[0][1]
    assert cam.stop(timeout=3) == 0
