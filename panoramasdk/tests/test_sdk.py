"""The SDK against real rings and sockets, with the test playing the camera and the display."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import panoramasdk
from edge_agent.runtime.config import ParameterInput, PutRecord
from edge_agent.runtime.ring import FrameRing
from panoramasdk import _node
from tests.support.sdk import CAPACITY, HEIGHT, READER, WIDTH, frame, sample_config


def camera(runtime, name: str = "cam1") -> FrameRing:
    return FrameRing.open(runtime.path(f"cam-{name}.ring"))


def display_socket(runtime, name: str = "display-output_node.sock") -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(runtime.path(name)))
    sock.settimeout(5)
    return sock


def receive(sock: socket.socket) -> PutRecord:
    return PutRecord.model_validate_json(sock.recv(65536))


# --- construction ---------------------------------------------------------------------------------


def test_a_node_outside_a_code_node_says_so(monkeypatch):
    monkeypatch.delenv("VANTAGE_NODE_CONFIG", raising=False)
    with pytest.raises(RuntimeError, match=r"VANTAGE_NODE_CONFIG.*not running as a code node"):
        panoramasdk.node()


def test_a_missing_config_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("VANTAGE_NODE_CONFIG", str(tmp_path / "nope.json"))
    with pytest.raises(RuntimeError, match="cannot read the node configuration"):
        panoramasdk.node()


def test_the_config_runtime_dir_serves_when_no_override_is_given(node_env, runtime, monkeypatch):
    node_env(dataclasses.replace(sample_config(runtime), runtime_dir=str(runtime.root)))
    monkeypatch.delenv("VANTAGE_RUNTIME_DIR")
    node = panoramasdk.node()
    camera(runtime).write(frame(8), ts_sec=1, ts_usec=0)
    assert node.inputs.video_in.get(timeout=5)[0].image[0, 0, 0] == 8


def test_a_runtime_dir_that_is_not_there_is_a_clear_error(node_env, monkeypatch):
    node_env()
    monkeypatch.delenv("VANTAGE_RUNTIME_DIR")  # the config says /run/vantage: not here
    with pytest.raises(RuntimeError, match="runtime folder /run/vantage does not exist"):
        panoramasdk.node()


def test_subclass_without_super_init_has_its_ports(node_env):
    node_env()

    class Application(panoramasdk.node):
        def __init__(self, label):
            # As every Panorama sample: no super().__init__().
            self.label = label
            self.threshold = self.inputs.threshold.get()

    app = Application("mine")
    assert app.label == "mine"
    assert app.threshold == 20.0
    assert isinstance(app, panoramasdk.node)
    assert isinstance(app.inputs.video_in, panoramasdk.port)
    assert isinstance(app.outputs.video_out, panoramasdk.port)
    assert set(app.inputs) == {"video_in", "threshold", "region", "device_id", "log_level"}
    assert list(app.outputs) == ["video_out"]
    with pytest.raises(AttributeError, match=r"no input port 'nope'.*video_in"):
        _ = app.inputs.nope


def test_composition_and_only_one_node_per_process(node_env):
    node_env()
    node = panoramasdk.node()
    assert node.inputs.region.get() == "us-east-1"
    with pytest.raises(RuntimeError, match=r"one panoramasdk\.node per code node process"):
        panoramasdk.node()

    class Late(panoramasdk.node):
        def __init__(self):
            pass

    with pytest.raises(RuntimeError, match="already has its node"):
        Late()
    # The first node is untouched by the refused second one.
    assert node.inputs.device_id.get() == "1234ABCD"


# --- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("float32", 20, 20.0),
        ("float32", "0.5", 0.5),
        ("int32", 7, 7),
        ("int32", "12", 12),
        ("int32", 3.0, 3),
        ("string", "us-east-1", "us-east-1"),
        ("string", 5, "5"),
        ("boolean", True, True),
        ("boolean", "true", True),
        ("boolean", "False", False),
        ("boolean", 0, False),
    ],
)
def test_parameters_are_typed_by_their_port_type(node_env, runtime, kind, value, expected):
    config = sample_config(runtime)
    config.inputs["p"] = ParameterInput(type=kind, value=value)
    node_env(config)
    node = panoramasdk.node()
    first = node.inputs.p.get()
    assert first == expected
    assert type(first) is type(expected)
    assert node.inputs.p.get() == first  # the same value every call


@pytest.mark.parametrize(
    ("kind", "value"), [("int32", 2.5), ("int32", "x"), ("boolean", "maybe"), ("float32", "hot")]
)
def test_a_bad_parameter_value_names_the_port(node_env, runtime, kind, value):
    config = sample_config(runtime)
    config.inputs["limit"] = ParameterInput(type=kind, value=value)
    node_env(config)
    node = panoramasdk.node()
    with pytest.raises(ValueError, match=f"parameter limit: .* not a valid {kind}"):
        node.inputs.limit.get()


def test_ports_used_the_wrong_way_round(node_env):
    node_env()
    node = panoramasdk.node()
    with pytest.raises(TypeError, match="video_in is an input port"):
        node.inputs.video_in.put([])
    with pytest.raises(TypeError, match="threshold is an input port"):
        node.inputs.threshold.put([])
    with pytest.raises(TypeError, match="video_out is an output port"):
        node.outputs.video_out.get()


# --- media in -------------------------------------------------------------------------------------


def test_get_returns_the_new_frame_and_moves_the_hold(node_env, runtime):
    node_env()
    node = panoramasdk.node()
    cam = camera(runtime)
    seq = cam.write(frame(10), ts_sec=1700000000, ts_usec=250)
    [item] = node.inputs.video_in.get(timeout=5)
    assert isinstance(item, panoramasdk.media)
    assert not item.is_cached
    assert item.stream_id == "cam1_id"
    assert item.stream_uri == "rtsp://cam1.example/stream"
    assert item.time_stamp == (1700000000, 250)
    assert item.image.shape == (HEIGHT, WIDTH, 3) and item.image.dtype == np.uint8
    assert np.array_equal(item.image, frame(10))
    assert cam.taken(READER) == seq
    held = cam.holds()[READER]
    assert held >= 0

    cam.write(frame(11), ts_sec=1700000000, ts_usec=40250)
    [item] = node.inputs.video_in.get(timeout=5)
    assert np.array_equal(item.image, frame(11))
    assert cam.holds()[READER] not in (held, -1)  # the previous frame is released


def test_get_blocks_until_a_frame_arrives(node_env, runtime):
    node_env()
    node = panoramasdk.node()
    cam = camera(runtime)
    results = []
    getter = threading.Thread(target=lambda: results.append(node.inputs.video_in.get(timeout=10)))
    getter.start()
    cam.write(frame(3), ts_sec=1, ts_usec=0)
    getter.join(timeout=10)
    assert not getter.is_alive()
    [[item]] = results
    assert item.image[0, 0, 0] == 3


def test_get_times_out_with_a_timeout_error(node_env, runtime):
    node_env()
    node = panoramasdk.node()
    port = node.inputs.video_in
    started = time.monotonic()
    with pytest.raises(panoramasdk.TimeoutException, match=r"no new frame within 0\.2"):
        port.get(timeout=0.2)
    assert time.monotonic() - started >= 0.2
    assert issubclass(panoramasdk.TimeoutException, TimeoutError)

    # A frame already returned is not new: the next get() waits again.
    camera(runtime).write(frame(1), ts_sec=1, ts_usec=0)
    assert len(port.get(timeout=5)) == 1
    with pytest.raises(TimeoutError):
        port.get(timeout=0.05)


def test_streams_without_news_come_cached_and_silent_streams_are_left_out(node_env, runtime):
    node_env(sample_config(runtime, cameras=("cam1", "cam2", "cam3")))
    node = panoramasdk.node()
    cam1, cam2 = camera(runtime, "cam1"), camera(runtime, "cam2")

    cam1.write(frame(1), ts_sec=1, ts_usec=0)
    items = node.inputs.video_in.get(timeout=5)
    assert [(m.stream_id, m.is_cached) for m in items] == [("cam1_id", False)]

    cam2.write(frame(2), ts_sec=2, ts_usec=0)
    items = node.inputs.video_in.get(timeout=5)
    assert [(m.stream_id, m.is_cached) for m in items] == [("cam1_id", True), ("cam2_id", False)]
    assert items[0].image[0, 0, 0] == 1  # the last frame again
    assert items[1].image[0, 0, 0] == 2

    cam1.write(frame(3), ts_sec=3, ts_usec=0)
    cam2.write(frame(4), ts_sec=4, ts_usec=0)
    items = node.inputs.video_in.get(timeout=5)
    assert [(m.stream_id, m.is_cached, int(m.image[0, 0, 0])) for m in items] == [
        ("cam1_id", False, 3),
        ("cam2_id", False, 4),
    ]


def test_a_paused_camera_leaves_the_batch_until_it_resumes(node_env, runtime):
    node_env(sample_config(runtime, cameras=("cam1", "cam2")))
    node = panoramasdk.node()
    cam1, cam2 = camera(runtime, "cam1"), camera(runtime, "cam2")
    cam1.write(frame(1), ts_sec=1, ts_usec=0)
    cam2.write(frame(2), ts_sec=2, ts_usec=0)
    items = node.inputs.video_in.get(timeout=5)
    assert [m.stream_id for m in items] == ["cam1_id", "cam2_id"]

    cam1.set_paused(True)  # as the agent flags it on PAUSE
    cam2.write(frame(3), ts_sec=3, ts_usec=0)
    items = node.inputs.video_in.get(timeout=5)
    assert [(m.stream_id, m.is_cached) for m in items] == [("cam2_id", False)]
    # A frame the camera published just before it stopped is not taken either.
    cam1.write(frame(4), ts_sec=4, ts_usec=0)
    with pytest.raises(panoramasdk.TimeoutException):
        node.inputs.video_in.get(timeout=0.1)

    cam1.set_paused(False)  # RESUME
    cam1.write(frame(5), ts_sec=5, ts_usec=0)
    items = node.inputs.video_in.get(timeout=5)
    assert [(m.stream_id, m.is_cached, int(m.image[0, 0, 0])) for m in items] == [
        ("cam1_id", False, 5),
        ("cam2_id", True, 3),
    ]


# --- overlays -------------------------------------------------------------------------------------


def test_overlays_must_be_inside_the_frame(node_env, runtime):
    node_env()
    node = panoramasdk.node()
    camera(runtime).write(frame(1), ts_sec=1, ts_usec=0)
    [item] = node.inputs.video_in.get(timeout=5)
    item.add_label("edge", 0, 1)
    item.add_rect(0, 0, 1, 1)
    item.add_rect(np.float32(0.25), 0.5, 0.75, 1.0)
    with pytest.raises(ValueError, match=r"x must be in \[0, 1\], got 1.5"):
        item.add_label("far", 1.5, 0.1)
    with pytest.raises(ValueError, match=r"y must be in \[0, 1\], got -0.01"):
        item.add_label("up", 0.1, -0.01)
    with pytest.raises(ValueError, match=r"left must be in \[0, 1\], got -0.1"):
        item.add_rect(-0.1, 0, 1, 1)
    with pytest.raises(ValueError, match=r"bottom must be in \[0, 1\], got 2"):
        item.add_rect(0, 0, 1, 2)
    with pytest.raises(ValueError, match=r"right must be in \[0, 1\], got nan"):
        item.add_rect(0, 0, float("nan"), 1)
    with pytest.raises(TypeError, match="x must be a number"):
        item.add_label("t", "0.5", 0.5)
    assert item._labels == [("edge", 0.0, 1.0)]
    assert item._rects == [(0.0, 0.0, 1.0, 1.0), (0.25, 0.5, 0.75, 1.0)]


# --- media out ------------------------------------------------------------------------------------


def test_put_sends_the_ring_slot_and_the_overlays(node_env, runtime):
    node_env()
    node = panoramasdk.node()
    display = display_socket(runtime)
    cam = camera(runtime)
    seq = cam.write(frame(5), ts_sec=9, ts_usec=1)
    [item] = node.inputs.video_in.get(timeout=5)
    item.image[0:4, 0:4] = (0, 0, 255)  # drawn in place: still the ring slot
    item.add_label("person (87%)", 0.1, 0.1)
    item.add_rect(0.2, 0.3, 0.4, 0.5)
    node.outputs.video_out.put([item])

    record = receive(display)
    assert (record.node, record.port) == ("code_node", "video_out")
    [sent] = record.media
    assert (sent.ring, sent.slot, sent.seq) == ("cam-cam1.ring", cam.holds()[READER], seq)
    assert sent.stream_id == "cam1_id"
    assert sent.decoded_ns > 0
    assert sent.labels == [("person (87%)", 0.1, 0.1)]
    assert sent.rects == [(0.2, 0.3, 0.4, 0.5)]
    # What the display would read from that slot has the drawing.
    shown = cam.hold(3, sent.slot, sent.seq)
    assert shown is not None and tuple(shown.image[0, 0]) == (0, 0, 255)
    assert node.outputs.video_out.sent == 1


def test_put_copies_a_replaced_image_into_the_out_ring(node_env, runtime):
    node_env()
    node = panoramasdk.node()
    display = display_socket(runtime)
    camera(runtime).write(frame(5), ts_sec=9, ts_usec=1)
    [item] = node.inputs.video_in.get(timeout=5)
    replaced = np.full((20, 30, 3), 77, np.uint8)
    item.image = replaced
    item.add_label("copied", 0.5, 0.5)
    node.outputs.video_out.put([item])

    [sent] = receive(display).media
    assert sent.ring == "out-code_node.ring"
    assert sent.labels == [("copied", 0.5, 0.5)]
    out = FrameRing.open(runtime.path("out-code_node.ring"))
    shown = out.hold(0, sent.slot, sent.seq)
    assert shown is not None
    assert np.array_equal(shown.image, replaced)
    assert (shown.ts_sec, shown.ts_usec) == (9, 1)  # the source frame's time stamp goes along

    # A grayscale result is widened to BGR; a float image is refused with a clear message.
    item.image = np.full((10, 10), 9, np.uint8)
    node.outputs.video_out.put([item])
    [sent] = receive(display).media
    shown = out.hold(0, sent.slot, sent.seq)
    assert shown is not None and shown.image.shape == (10, 10, 3)
    item.image = np.zeros((10, 10, 3), np.float32)
    with pytest.raises(ValueError, match="must be uint8"):
        node.outputs.video_out.put([item])
    item.image = np.zeros((WIDTH * 4, HEIGHT * 4, 3), np.uint8)  # more than a slot holds
    with pytest.raises(ValueError, match="does not fit"):
        node.outputs.video_out.put([item])
    assert item.image.nbytes > CAPACITY


def test_put_checks_its_argument(node_env, runtime):
    node_env()
    node = panoramasdk.node()
    camera(runtime).write(frame(5), ts_sec=9, ts_usec=1)
    [item] = node.inputs.video_in.get(timeout=5)
    port = node.outputs.video_out
    with pytest.raises(ValueError, match="at least one media"):
        port.put([])
    with pytest.raises(TypeError, match="item 1 is a str, not a media"):
        port.put([item, "frame"])
    with pytest.raises(TypeError, match="a list of media, not a single media"):
        port.put(item)


def test_a_missing_display_drops_the_frame_without_error(node_env, runtime):
    node_env()
    node = panoramasdk.node()
    camera(runtime).write(frame(5), ts_sec=9, ts_usec=1)
    [item] = node.inputs.video_in.get(timeout=5)
    node.outputs.video_out.put([item])  # nobody bound display-output_node.sock
    assert (node.outputs.video_out.sent, node.outputs.video_out.dropped) == (0, 1)

    # A display that does not read: its queue fills, then put() drops without blocking.
    display = display_socket(runtime)
    started = time.monotonic()
    for _ in range(2000):
        node.outputs.video_out.put([item])
    assert time.monotonic() - started < 10
    assert node.outputs.video_out.dropped > 1
    assert node.outputs.video_out.sent >= 1
    assert receive(display).media[0].stream_id == "cam1_id"


def test_one_put_reaches_every_display_of_the_port(node_env, runtime):
    config = sample_config(runtime)
    config.outputs["video_out"].displays = ["display-a.sock", "display-b.sock"]
    node_env(config)
    node = panoramasdk.node()
    first, second = (
        display_socket(runtime, "display-a.sock"),
        display_socket(runtime, "display-b.sock"),
    )
    camera(runtime).write(frame(5), ts_sec=9, ts_usec=1)
    items = node.inputs.video_in.get(timeout=5)
    node.outputs.video_out.put(items)
    assert receive(first).media == receive(second).media


# --- zero copy ------------------------------------------------------------------------------------

READ_SLOT = """
import sys, numpy as np
from edge_agent.runtime.ring import FrameRing
ring = FrameRing.open(sys.argv[1])
frame = ring.hold(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
print(frame.image[5:9, 5:9].tolist() if frame is not None else "gone")
"""


def test_media_image_is_the_ring_slot_itself(node_env, runtime):
    node_env()
    node = panoramasdk.node()
    camera(runtime).write(frame(40), ts_sec=1, ts_usec=0)
    [item] = node.inputs.video_in.get(timeout=5)

    # The SDK's own mapping of the ring: the image's memory is the held slot's, no copy made.
    stream = node.inputs.video_in._streams[0]
    slot = stream.ring.holds()[READER]
    view = stream.ring.view(slot, WIDTH, HEIGHT)
    assert item.image.__array_interface__["data"][0] == view.__array_interface__["data"][0]
    assert item.image.flags.writeable and not item.image.flags.owndata

    # Drawing in place is seen by another process mapping the same ring (as the display does).
    item.image[5:9, 5:9] = (1, 2, 3)
    result = subprocess.run(
        [sys.executable, "-c", READ_SLOT, str(runtime.path("cam-cam1.ring")), "3", str(slot),
         str(item._seq)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(result.stdout) == [[[1, 2, 3]] * 4] * 4


# --- call -----------------------------------------------------------------------------------------


def test_call_names_the_known_model_nodes_for_an_unknown_one(node_env):
    node_env()
    node = panoramasdk.node()
    x = np.zeros((1, 3, 224, 224), np.float32)
    with pytest.raises(KeyError, match=r"'people_model' is not a model node .*'model_node'"):
        node.call({"data": x}, "people_model")
    with pytest.raises(KeyError, match="people_model"):
        node.call("people_model", {"data": x})
    with pytest.raises(TypeError, match="one model node name"):
        node.call({"data": x}, {"data": x})


def test_shutdown_allows_a_new_node_and_releases_the_hold(node_env, runtime):
    node_env()
    node = panoramasdk.node()
    cam = camera(runtime)
    cam.write(frame(1), ts_sec=1, ts_usec=0)
    node.inputs.video_in.get(timeout=5)
    assert cam.holds()[READER] >= 0
    _node._shutdown()
    assert cam.holds()[READER] == -1
    assert panoramasdk.node().inputs.threshold.get() == 20.0
