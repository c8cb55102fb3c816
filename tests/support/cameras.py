"""A real RTSP server (GStreamer's rtsp-server) looping the shared test videos (no Django; a
pytest plugin for the ``rtsp_server`` fixture)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import BASE_DIR, MEDIA_DIR
from tests.support.ports import free_port
from tests.support.waiting import wait_for

RTSP_USER, RTSP_PASSWORD = "camuser", "Cam-pass-7781"


@dataclass
class RTSPServer:
    port: int
    process: subprocess.Popen
    user: str = RTSP_USER
    password: str = RTSP_PASSWORD

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"


def start_rtsp_server(tmp_path: Path, port: int | None = None) -> RTSPServer:
    # ``port``: the port of a server the test killed, to bring "the camera" back where it was.
    port = port or free_port()
    out = tmp_path / f"rtsp-{port}.log"
    with open(out, "wb") as log:
        process = subprocess.Popen(
            ["/usr/bin/python3", str(BASE_DIR / "tests/support/rtsp_server.py"),
             "--port", str(port), "--h264", str(MEDIA_DIR / "pedestrians.mp4"),
             "--h265", str(MEDIA_DIR / "pedestrians_h265.mp4"),
             "--user", RTSP_USER, "--password", RTSP_PASSWORD],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the RTSP server exited:\n{out.read_text()}")
        return "READY" in out.read_text()

    wait_for(ready, timeout=30, message="the RTSP server to listen")
    return RTSPServer(port=port, process=process)


def stop_process(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def rtsp_server(tmp_path_factory) -> Iterator[RTSPServer]:
    server = start_rtsp_server(tmp_path_factory.mktemp("rtsp"))
    yield server
    stop_process(server.process)
