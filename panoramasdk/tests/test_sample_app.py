"""Acceptance: the aws-panorama-sample application, as written for Panorama, runs on Vantage.

Real processes all through: the camera node plays pedestrians.mp4 into its ring, the model
server serves ``model_node``: a TorchScript SqueezeNet-shaped classifier (the PyTorch model
package the sample names, ``modelcompile.testing.make_torch_classifier``) compiled to ONNX with
``modelcompile.compile_model``, as the console compiles it. The sample runs as the code node with
a configuration built from its own package.json interface and graph.json parameters. The test
is the display: it binds the display socket and checks what arrives; each label checked is
PyTorch's own top class (tests/support/framework_reference.py) for exactly that frame.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

import cv2
import numpy as np
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
from modelcompile import compile_model
from modelcompile import testing as model_fixtures
from tests.support.framework_reference import framework_outputs
from tests.support.runtime import Runtime

# The model is compiled in the PyTorch converter env (python -m modelcompile install pytorch).
pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).parent / "fixtures" / "aws_panorama_sample"
VIDEO = Path(__file__).resolve().parents[2].parent / "shared" / "media" / "pedestrians.mp4"
CODE_NODE, CAMERA_NODE, MODEL_NODE, OUTPUT_NODE = (
    "code_node",
    "camera_node",
    "model_node",
    "output_node",
)
TEST_READER = 3  # the test's own reader index in the camera ring (the app's is 0)
LABEL = re.compile(r"(?P<name>.+) \((?P<percent>-?\d+)%\)")


def graph_config(runtime: Runtime, overrides: dict[str, object]) -> CodeNodeConfig:
    """The code node's configuration as the agent derives it: ports from the package's
    interface, parameter values from the graph's parameter nodes (with deploy-time overrides),
    media edges to the camera and display nodes, model nodes from the graph."""
    graph = json.loads((SAMPLE / "graph.json").read_text())["nodeGraph"]
    [interface] = json.loads((SAMPLE / "package.json").read_text())["nodePackage"]["interfaces"]
    descriptor = json.loads((SAMPLE / "model_descriptor.json").read_text())["mlModelDescriptor"]
    nodes = {node["name"]: node for node in graph["nodes"]}
    producers = {edge["consumer"]: edge["producer"] for edge in graph["edges"]}
    inputs: dict[str, object] = {}
    for port in interface["inputs"]:
        producer = producers[f"{CODE_NODE}.{port['name']}"]
        if port["type"] == "media":
            camera = producer.split(".")[0]
            inputs[port["name"]] = MediaInput(streams=[StreamInput(
                camera=camera, stream_id=camera, stream_uri=VIDEO.as_uri(),
                ring=f"cam-{camera}.ring", reader=0,
            )])  # fmt: skip
        else:
            parameter = nodes[producer]
            assert parameter["interface"] == port["type"]
            value = overrides.get(producer, parameter["value"])
            inputs[port["name"]] = ParameterInput(type=port["type"], value=value)
    outputs = {}
    for port in interface["outputs"]:
        consumers = [c for c, p in producers.items() if p == f"{CODE_NODE}.{port['name']}"]
        displays = [f"display-{c.split('.')[0]}.sock" for c in consumers]
        outputs[port["name"]] = MediaOutput(displays=displays, ring=f"out-{CODE_NODE}.ring")
    tensors = [TensorSpec(name=t["name"], shape=t["shape"]) for t in descriptor["inputs"]]
    return CodeNodeConfig(
        application_instance_id="applicationInstance-sample", node=CODE_NODE,
        runtime_dir="/run/vantage", inputs=inputs, outputs=outputs,
        models={MODEL_NODE: ModelRef(socket=f"model-{MODEL_NODE}.sock", inputs=tensors)},
    )  # fmt: skip


def preprocess(image: np.ndarray) -> np.ndarray:
    """The sample's own preprocessing, to predict what it should have classified."""
    resized = cv2.resize(image, (224, 224)).astype(np.float32) / 255.0
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    return ((resized - mean) / std).transpose(2, 0, 1)[np.newaxis]


@pytest.fixture(scope="session")
def classifier(tmp_path_factory) -> tuple[Path, Path]:
    """The TorchScript classifier and the ONNX archive compile_model makes of it, with the
    sample's own descriptor (PYTORCH, ``data`` [1, 3, 224, 224], FP16)."""
    folder = tmp_path_factory.mktemp("classifier")
    archive, _ = model_fixtures.make_torch_classifier(folder)
    descriptor = json.loads((SAMPLE / "model_descriptor.json").read_text())
    body = descriptor["mlModelDescriptor"]
    compiled = compile_model(
        archive, framework=body["framework"], inputs=model_fixtures.inputs_of(descriptor),
        work_dir=folder / "compiled", precision=body["precisionMode"],
    )  # fmt: skip
    return archive, compiled.archive


@pytest.fixture(scope="session")
def sample_image(tmp_path_factory) -> Path:
    """The sample in a container image built on the base image (``COPY . /panorama``, as its
    panorama-cli Dockerfile does), exported and unpacked as an appliance unpacks it."""
    from edge_agent.apps.images import ImageCache
    from imagebuild.builder import build_and_export, cannot_build

    if reason := cannot_build():
        pytest.skip(f"cannot build the sample's image here: {reason}")
    folder = tmp_path_factory.mktemp("sample-image")
    context = folder / "context"
    shutil.copytree(SAMPLE, context)
    dockerfile = context / "Dockerfile"
    dockerfile.write_text("FROM public.ecr.aws/panorama/panorama-application\nCOPY . /panorama\n")
    tag = "localhost/vantage-test/aws-panorama-sample"
    sha, archive = build_and_export(context, dockerfile, tag, folder, progress=lambda line: None)
    return ImageCache(folder / "images", 16 * 1024**3, 8 * 1024**3).unpack(sha, archive)


def start_in_image(runtime: Runtime, config: CodeNodeConfig, rootfs: Path, logs: Path, env):
    """The sample's entry (``python3 /panorama/application.py``) in its image under bubblewrap,
    as the agent starts it: the runtime folder at /run/vantage, the SDK bound in."""
    from edge_agent.apps import sandbox

    support = sandbox.probe_support()
    if not support.available:
        pytest.skip("bubblewrap does not work here")
    runtime.write_config(f"code-{config.node}", config)
    storage = logs.parent / "storage"
    storage.mkdir()
    argv = sandbox.bwrap_argv(
        support.bwrap, code=rootfs / "panorama", storage=storage, logs=logs, hostname=CODE_NODE,
        info_fd=None, block_fd=None, runtime=runtime.root, rootfs=rootfs,
        command=["python3", "/panorama/application.py"],
    )  # fmt: skip
    inside = {
        "VANTAGE_NODE_CONFIG": f"/run/vantage/code-{config.node}.json",
        "VANTAGE_RUNTIME_DIR": "/run/vantage", "PYTHONPATH": "/opt/vantage/python",
        "PANORAMA_LOG_DIR": "/opt/aws/panorama/logs", "container": "podman", **env,
    }  # fmt: skip
    return runtime.spawn(f"code-{config.node}", argv, env=inside)


# Both compile the model in the PyTorch converter env, and the image variant builds the sample's
# image: part of the whole suite, not of the fast one.
@pytest.fixture(params=["agent_python", "image"])
def sample_running(request, tmp_path, classifier):
    """The sample as a code-only node on the agent's Python, and in its own container image on
    the base image (Python 3.11, NumPy 1.24, OpenCV 4.10): the same results from both."""
    if not VIDEO.exists():
        pytest.fail(f"{VIDEO} is missing (the shared test media)")
    logs = tmp_path / "logs"
    logs.mkdir()
    with Runtime() as runtime:
        display = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        display.bind(str(runtime.path(f"display-{OUTPUT_NODE}.sock")))
        display.settimeout(1)
        runtime.create_ring(f"cam-{CAMERA_NODE}.ring")
        runtime.create_ring(f"out-{CODE_NODE}.ring")
        camera = runtime.start_camera(CAMERA_NODE, VIDEO.as_uri())
        descriptor = json.loads((SAMPLE / "model_descriptor.json").read_text())
        model = runtime.start_model_server(
            MODEL_NODE, classifier[1], [TensorSpec(name="data", shape=[1, 3, 224, 224])],
            precision=descriptor["mlModelDescriptor"]["precisionMode"],
        )  # fmt: skip
        camera.wait_for_status("RUNNING")
        model.wait_for_status("RUNNING")
        # The classifier's scores are probabilities, not SqueezeNet's logits: the graph's
        # overridable threshold is lowered at deploy time, as an operator would, so every frame
        # is labelled.
        config = graph_config(runtime, {"detection_threshold": -1000.0})
        # No AWS account in a test: the sample must take its own "no credentials" branch.
        no_aws = {
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE":
            str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
        }  # fmt: skip
        if request.param == "image":
            rootfs = request.getfixturevalue("sample_image")
            code = start_in_image(runtime, config, rootfs, logs, no_aws)
        else:
            code = runtime.start_code_node(
                config, [sys.executable, str(SAMPLE / "application.py")], cwd=Path("/"),
                env={"PANORAMA_CODE_DIR": str(SAMPLE), "PANORAMA_LOG_DIR": str(logs), **no_aws},
            )  # fmt: skip
        try:
            yield runtime, display, code, logs / "app.log", classifier[0]
        finally:
            display.close()


def test_the_sample_classifies_frames_and_puts_them_out(sample_running, tmp_path):
    runtime, display, code, app_log, torchscript = sample_running
    classes = json.loads((SAMPLE / "squeezenet_classes.json").read_text())
    ring = FrameRing.open(runtime.path(f"cam-{CAMERA_NODE}.ring"))
    records: list[PutRecord] = []
    checked: list[tuple[np.ndarray, str, int]] = []  # (the model's input, label, percent)
    deadline = time.monotonic() + 30
    while len(checked) < 5 or len(records) < 30:
        if time.monotonic() > deadline or code.popen.poll() is not None:
            log = app_log.read_text() if app_log.exists() else ""
            pytest.fail(f"{len(records)} records, {checked} checked\n{code.describe()}\n{log}")
        try:
            record = PutRecord.model_validate_json(display.recv(65536))
        except TimeoutError:
            continue
        records.append(record)
        [item] = record.media
        assert (record.node, record.port) == (CODE_NODE, "video_out")
        assert (item.ring, item.stream_id) == (f"cam-{CAMERA_NODE}.ring", CAMERA_NODE)
        assert item.rects == [(0.0, 0.0, 1.0, 1.0)]
        [(text, x, y)] = item.labels
        assert (x, y) == (0.1, 0.1)
        match = LABEL.fullmatch(text)
        assert match and match["name"] in classes, text
        # The frame the record points at, read in place as the display would: the sample's
        # label must be PyTorch's answer for exactly that frame (checked below, at once).
        frame = ring.hold(TEST_READER, item.slot, item.seq)
        if frame is None:
            continue  # the camera has moved on past that slot: the display would skip it too
        if len(checked) < 5:
            checked.append((preprocess(frame.image), match["name"], int(match["percent"])))
        ring.release(TEST_READER)
    expected = framework_outputs(
        torchscript, "PYTORCH", [{"data": data} for data, _, _ in checked], tmp_path / "torch"
    )
    for (_, name, percent), outputs in zip(checked, expected, strict=True):
        scores = outputs["output0"][0]
        top = int(scores.argmax())
        assert name == classes[top]
        # int() of the score: onnxruntime and PyTorch may differ in the last bits at a boundary.
        assert abs(percent - scores[top]) < 1.001
    seqs = [record.media[0].seq for record in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # each frame once, in order

    log = app_log.read_text()
    for line in ("INITIALIZING APPLICATION", "Configuring parameters.", "Initialization complete.",
                 "PROCESSING STREAMS", "AWS SDK credentials are not available"):  # fmt: skip
        assert line in log
    assert "Error during initialization" not in log
    assert "Exception during processing loop" not in log
    assert "Traceback" not in code.stderr(), code.describe()
    assert code.alive()


def test_the_sample_logs_its_epoch_metrics(sample_running):
    """150 frames is the sample's epoch: it logs its timings and, without CloudWatch, says so."""
    _, display, code, app_log, _ = sample_running

    def logged() -> str:
        text = app_log.read_text() if app_log.exists() else ""
        if "Exception" in text or not code.alive():
            pytest.fail(f"the sample failed:\n{text}\n{code.describe()}")
        return text

    deadline = time.monotonic() + 30
    while "CloudWatch client is not available." not in logged():
        assert time.monotonic() < deadline, f"no epoch in 30 s:\n{logged()}"
        with contextlib.suppress(TimeoutError):
            display.recv(65536)  # keep the socket drained, as a display does
    text = logged()
    fps = float(re.search(r"epoch length: [\d.]+ s \(([\d.]+) FPS\)", text)[1])
    assert fps > 5, text
    assert "avg inference time" in text and "max frame processing time" in text
    assert os.path.getsize(app_log) > 0
