"""The people counter sample (samples/people_counter) on the real edge runtime.

Real processes all through: a camera plays the sample's demo video into its ring, the model
server serves the sample's ONNX person detector, and the sample's own application.py runs as the
code node. The test is the display: it binds the display socket, and for each frame the
application put out it reads that frame in place and runs the detector itself, to check the
boxes and the count the application drew.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import tarfile
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest

from edge_agent.runtime.config import (
    CodeNodeConfig,
    MediaInput,
    MediaOutput,
    ModelRef,
    ParameterInput,
    PutRecord,
    StreamInput,
    TensorSpec,
)
from edge_agent.runtime.ring import FrameRing
from tests.support.runtime import Runtime

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "people_counter"
CODE = SAMPLE / "packages" / "123456789012-PEOPLE_COUNTER_CODE-1.0" / "src"
MODEL = SAMPLE / "model" / "ssdlite_mobilenet_v2_person.onnx"
VIDEO = SAMPLE / "media" / "pedestrians.mp4"
CAMERA = "lobby"
TEST_READER = 2  # the test's own reader index in the camera ring (the app's is 0)
LABEL = re.compile(r"People: (\d+)")


def detector() -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])


def people(session: onnxruntime.InferenceSession, image: np.ndarray, threshold: float) -> int:
    """How many people the detector finds in a BGR frame, prepared as the sample prepares it."""
    batch = cv2.cvtColor(cv2.resize(image, (300, 300)), cv2.COLOR_BGR2RGB)[np.newaxis]
    _, classes, scores, num = session.run(None, {"image_tensor:0": batch})
    return sum(
        1 for i in range(int(num[0])) if int(classes[0][i]) == 1 and scores[0][i] >= threshold
    )


@contextlib.contextmanager
def counter(tmp_path: Path, threshold: float):
    """The sample running; yields (runtime, display socket, code process, model process)."""
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(MODEL, arcname=MODEL.name)
    descriptor = json.loads((CODE.parent.parent / "123456789012-PERSON_DETECTOR-1.0" /
                             "descriptor.json").read_text())["mlModelDescriptor"]  # fmt: skip
    inputs = [TensorSpec.model_validate(i) for i in descriptor["inputs"]]
    with Runtime() as runtime:
        display = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        display.bind(str(runtime.path("display-output_node.sock")))
        display.settimeout(1)
        runtime.create_ring(f"cam-{CAMERA}.ring", readers=3)
        runtime.create_ring("out-code_node.ring", readers=1)
        camera = runtime.start_camera(CAMERA, VIDEO.as_uri())
        model = runtime.start_model_server("model_node", archive, inputs)
        camera.wait_for_status("RUNNING")
        model.wait_for_status("RUNNING", timeout=60)
        config = CodeNodeConfig(
            application_instance_id="applicationInstance-counter", node="code_node",
            runtime_dir=str(runtime.root),
            inputs={
                "video_in": MediaInput(streams=[StreamInput(
                    camera=CAMERA, stream_id=CAMERA, stream_uri=VIDEO.as_uri(),
                    ring=f"cam-{CAMERA}.ring", reader=0,
                )]),
                "threshold": ParameterInput(type="float32", value=threshold),
            },
            outputs={"video_out": MediaOutput(displays=["display-output_node.sock"],
                                              ring="out-code_node.ring")},
            models={"model_node": ModelRef(socket="model-model_node.sock", inputs=inputs)},
        )  # fmt: skip
        code = runtime.start_code_node(
            config, [sys.executable, str(CODE / "application.py")],
            env={"PANORAMA_LOGS_DIR": str(tmp_path / "logs")},
        )  # fmt: skip
        try:
            yield runtime, display, code, model
        finally:
            display.close()


def checked_frames(
    runtime, display, code, threshold: float, wanted: int, *, unlabelled_first: bool = False
) -> list[int]:
    """The counts of ``wanted`` frames the application put out, each checked against the
    detector run by the test on the very frame the record names (``unlabelled_first``: frames
    put out without a count, while there was no model, may come first)."""
    session = detector()
    ring = FrameRing.open(runtime.path(f"cam-{CAMERA}.ring"))
    counts: list[int] = []
    deadline = time.monotonic() + 60
    while len(counts) < wanted:
        assert time.monotonic() < deadline, f"{len(counts)} frames checked\n{code.describe()}"
        assert code.alive(), code.describe()
        try:
            record = PutRecord.model_validate_json(display.recv(65536))
        except TimeoutError:
            continue
        [item] = record.media
        if unlabelled_first and not item.labels and not counts:
            continue
        [(text, x, y)] = item.labels
        match = LABEL.fullmatch(text)
        assert match and (x, y) == (0.05, 0.1), text
        count = int(match[1])
        assert len(item.rects) == count  # one box per person counted
        for left, top, right, bottom in item.rects:
            assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1
        frame = ring.hold(TEST_READER, item.slot, item.seq)
        if frame is None:
            continue  # the camera has moved past that slot: a display would skip it too
        try:
            assert people(session, frame.image, threshold) == count
        finally:
            ring.release(TEST_READER)
        counts.append(count)
    return counts


@pytest.mark.slow
def test_it_boxes_and_counts_the_people_it_sees(tmp_path):
    with counter(tmp_path, 0.5) as (runtime, display, code, _):
        counts = checked_frames(runtime, display, code, 0.5, 15)
        assert max(counts) >= 1  # people walk through the whole video
        printed = code.wait_for_output(f"{CAMERA}: ", stream="stdout")
        assert re.search(rf"{CAMERA}: \d+ people", printed)
        log = (tmp_path / "logs" / "people_counter.log").read_text()
        assert "confidence threshold 0.50" in log and f"{CAMERA}: " in log
        assert "Traceback" not in code.stderr()


@pytest.mark.slow
def test_the_threshold_decides_who_counts(tmp_path):
    with counter(tmp_path, 0.97) as (runtime, display, code, _):
        counts = checked_frames(runtime, display, code, 0.97, 8)
    assert sum(counts) < 8 * 3  # at 0.5 the video averages more than 3 people a frame


@pytest.mark.slow
def test_it_keeps_going_when_the_model_server_goes_away(tmp_path):
    with counter(tmp_path, 0.5) as (runtime, display, code, model):
        checked_frames(runtime, display, code, 0.5, 3)
        model.stop()
        # The frames still go out, without boxes, and the application logs why and goes on.
        deadline = time.monotonic() + 20
        while True:
            assert time.monotonic() < deadline, "no frame went out without the model"
            with contextlib.suppress(TimeoutError):
                if not PutRecord.model_validate_json(display.recv(65536)).media[0].labels:
                    break
        log = (tmp_path / "logs" / "people_counter.log").read_text()
        assert f"Could not process a frame from {CAMERA}" in log
        assert "model node model_node is not running" in log
        assert code.alive(), code.describe()
        # Back: the next frames are counted again, without restarting the application.
        archive = tmp_path / "model.tar.gz"
        inputs = [TensorSpec(name="image_tensor", shape=[1, 300, 300, 3], type="uint8")]
        runtime.start_model_server("model_node", archive, inputs).wait_for_status("RUNNING", 60)
        checked_frames(runtime, display, code, 0.5, 3, unlabelled_first=True)
        assert code.alive()
