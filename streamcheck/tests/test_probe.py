"""Stream checks against a real RTSP server (GStreamer) and real video."""

from __future__ import annotations

import socket
import time

import pytest

from streamcheck import StreamCheckFailed, probe
from streamcheck.probe import NOT_H264, with_credentials
from tests.support.cameras import start_rtsp_server, stop_process
from tests.support.paths import MEDIA_DIR
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


def test_open_stream(rtsp_server):
    info = probe(rtsp_server.url("open"))
    assert (info.codec, info.width, info.height, info.fps) == ("h264", 768, 576, 30.0)
    assert info.first_frame_ms > 0
    assert info.snapshot_jpeg[:3] == b"\xff\xd8\xff"  # a JPEG


def test_authenticated_stream(rtsp_server):
    info = probe(rtsp_server.url("auth"), rtsp_server.user, rtsp_server.password)
    assert info.codec == "h264"


@pytest.mark.parametrize("password", ["", "wrong"])
def test_missing_or_wrong_credentials(rtsp_server, password):
    with pytest.raises(StreamCheckFailed) as failure:
        probe(rtsp_server.url("auth"), rtsp_server.user if password else "", password)
    assert failure.value.message == (
        "Failed to get SDP description: 401 Unauthorized; with the result code: 401"
    )
    assert "credentials" in failure.value.hint


def test_h265_is_refused(rtsp_server):
    with pytest.raises(StreamCheckFailed) as failure:
        probe(rtsp_server.url("h265"))
    assert failure.value.message == NOT_H264
    assert "HEVC" in failure.value.hint


def test_unknown_path(rtsp_server):
    with pytest.raises(StreamCheckFailed) as failure:
        probe(rtsp_server.url("no-such-stream"))
    assert failure.value.message.endswith("404 Not Found; with the result code: 404")


def test_nothing_listening():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StreamCheckFailed) as failure:
        probe(f"rtsp://127.0.0.1:{port}/x")
    assert "Connection refused" in failure.value.message


def test_silent_server_times_out_in_time():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        started = time.monotonic()
        with pytest.raises(StreamCheckFailed) as failure:
            probe(f"rtsp://127.0.0.1:{listener.getsockname()[1]}/x", open_timeout=1.5)
        elapsed = time.monotonic() - started
    assert failure.value.message.endswith("Connection timed out (-115)")
    assert elapsed < 5


def test_server_dying_during_a_check_fails_in_time(tmp_path):
    server = start_rtsp_server(tmp_path)
    # The server answers until it has described the stream, then hangs with the connection up
    # (exactly there, every time: freezing the server process itself raced its first frame).
    proxy = TcpProxy("127.0.0.1", server.port)
    proxy.freeze_when = lambda data: b"application/sdp" in data
    url = server.url("open").replace(f":{server.port}/", f":{proxy.port}/")
    started = time.monotonic()
    try:
        with pytest.raises(StreamCheckFailed) as failure:
            probe(url, open_timeout=2, read_timeout=2)
    finally:
        proxy.close()
        stop_process(server.process)
    assert "timed out" in failure.value.message
    assert time.monotonic() - started < 8


def test_recorded_file_source():
    info = probe(f"file://{MEDIA_DIR / 'pedestrians.mp4'}")
    assert info.codec == "h264"


def test_credentials_never_appear_in_failures(rtsp_server):
    with pytest.raises(StreamCheckFailed) as failure:
        probe(rtsp_server.url("auth"), "someone", "Sup3r-Secret")
    assert "Sup3r-Secret" not in f"{failure.value.message} {failure.value.hint} {failure.value!r}"


def test_credentials_are_escaped_into_the_url():
    assert with_credentials("rtsp://h:554/a", "u@x", "p:/w") == "rtsp://u%40x:p%3A%2Fw@h:554/a"
