"""Acceptance (issue #14): the aws-panorama-sample, with its model as a PyTorch (TorchScript)
model package, deployed through the console and compiled by it, classifies a camera's frames.

The public sample project (shared/reference/…/aws-panorama-sample) as a developer migrates it
with ``vantage-cli``: import-application, the sample's application.py (panoramasdk/tests/
fixtures/aws_panorama_sample) packed as its code (build-container --code-only), the TorchScript
classifier fixture in place of SqueezeNet as ``model_asset`` (add-raw-model, with the sample's
own PYTORCH descriptor), package-application. The console compiles the model; the deployment
goes through the REST API with an override that plays a recorded video as the camera, as an
operator would, and sets two of the graph's own parameters: the threshold to 0 (the fixture's
softmax scores are below the sample's 20, made for SqueezeNet's logits) and the log level to
DEBUG, at which the sample writes each frame's model output to its log for its first 150
frames.

Then: every node RUNNING, the sample's epoch lines (150 frames through ``call()``), and each
probability vector it logged is PyTorch's own output (framework_reference.py) for one of the
video's frames, preprocessed as the sample does. Which frame is found with the compiled ONNX (the
console's asset, in onnxruntime), then checked against PyTorch.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import onnxruntime as ort
import pytest

from applications.assets import open_asset
from applications.models import CompiledModel
from core.models import Installation
from modelcompile import testing as model_fixtures
from tests.support.appliances import provisioned_agent
from tests.support.cli import cli
from tests.support.cli_project import copy_sample
from tests.support.framework_reference import framework_outputs
from tests.support.paths import BASE_DIR
from tests.support.waiting import wait_for
from vantage_cli.client import Console

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SAMPLE_APP = BASE_DIR / "panoramasdk" / "tests" / "fixtures" / "aws_panorama_sample"
VIDEO = BASE_DIR / "samples" / "people_counter" / "media" / "pedestrians.mp4"
CAMERA = "sample_camera"
CHECKED = 5  # logged vectors checked against PyTorch
RESULTS = re.compile(r"Inference results: \(array\(\[\[(.*?)\]\],\s*dtype=float32\),\)", re.S)
# The log prints 8 decimals (values near 1e-3: 5 significant digits): the logged vector equals
# PyTorch's within that rounding plus 1e-8 for the compile and onnxruntime.
LOGGED_ATOL = 5e-9 + 1e-8


@pytest.fixture
def sample_camera(live_stack):
    from applications.camera_packages import register_camera_package
    from datasources.models import DataSource

    source = DataSource(name=CAMERA, url=VIDEO.as_uri(), description="Recorded pedestrians")
    source.full_clean()
    source.save()
    register_camera_package(source)
    return source


def preprocess(img: np.ndarray, width: int) -> np.ndarray:
    """The sample's own preprocess(), as written in its application.py."""
    resized = cv2.resize(img, (width, width))
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]
    img = resized.astype(np.float32) / 255.0
    channels = [(img[:, :, c] - mean[c]) / std[c] for c in range(3)]
    return np.asarray([channels])


def video_frames() -> list[np.ndarray]:
    """Every frame of the recording, decoded as the camera node decodes it (PyAV, one swscale
    step to BGR at the published size)."""
    frames = []
    with av.open(str(VIDEO)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(width=frame.width, height=frame.height,
                                           format="bgr24"))  # fmt: skip
    return frames


def override(account: str) -> str:
    """The camera, and two of the graph's parameters, as an operator overrides them."""
    return json.dumps({
        "nodeGraphOverrides": {
            "envelopeVersion": "2021-01-01",
            "packages": [{"name": f"{account}::{CAMERA}", "version": "1.0"}],
            "nodes": [
                {"name": CAMERA, "interface": f"{account}::{CAMERA}.{CAMERA}"},
                {"name": "threshold_override", "interface": "float32", "value": 0.0},
                {"name": "log_level_override", "interface": "string", "value": "DEBUG"},
            ],
            "nodeOverrides": [
                {"replace": "camera_node", "with": [{"name": CAMERA}]},
                {"replace": "detection_threshold", "with": [{"name": "threshold_override"}]},
                {"replace": "log_level", "with": [{"name": "log_level_override"}]},
            ],
        }
    }, indent=4)  # fmt: skip


def compiled_session(tmp_path: Path) -> ort.InferenceSession:
    """The compiled model the console made, from its asset store, in onnxruntime."""
    compiled = CompiledModel.objects.select_related("result").get(
        framework="PYTORCH", precision="FP32"
    )
    assert compiled.status == "SUCCEEDED", compiled.message
    with open_asset(compiled.result) as handle:
        data = handle.read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extract("model.onnx", tmp_path / "compiled", filter="data")
    return ort.InferenceSession(str(tmp_path / "compiled" / "model.onnx"))


def test_the_aws_panorama_sample_runs_with_its_pytorch_model_compiled_by_the_console(
    make_agent,
    live_stack,
    env,
    sample_camera,
    tmp_path,
):
    started = time.monotonic()
    device, agent = provisioned_agent(make_agent, "sample-torch", live_stack.url)
    project = copy_sample(tmp_path)
    cli(env, project, "import-application")
    account = Installation.get().account_id
    code = Path("packages") / f"{account}-SAMPLE_CODE-1.0"
    model = Path("packages") / f"{account}-SQUEEZENET_PYTORCH-1.0"
    shutil.copyfile(SAMPLE_APP / "application.py", project / code / "application.py")
    cli(env, project, "build-container", "--container-asset-name", "code_asset",
        "--package-path", code, "--code-only")  # fmt: skip
    archive, _ = model_fixtures.make_torch_classifier(tmp_path / "model")
    descriptor = json.loads((project / model / "descriptor.json").read_text())
    assert descriptor["mlModelDescriptor"]["framework"] == "PYTORCH"
    cli(env, project, "add-raw-model", "--model-asset-name", "model_asset",
        "--model-local-path", archive, "--descriptor-path", model / "descriptor.json",
        "--packages-path", model)  # fmt: skip
    assert "0 invalid" in cli(env, project, "validate", ".")
    assert "2 package(s) registered (2 new" in cli(env, project, "package-application")

    graph = (project / "graphs" / "my-app" / "graph.json").read_text()
    console = Console(env["VANTAGE_URL"], env["VANTAGE_TOKEN"], token_source="test")
    body = {
        "name": "aws-panorama-sample", "device": device.device_id, "manifest_payload": graph,
        "manifest_overrides_payload": override(account),
    }  # fmt: skip
    iid = console.request("POST", "/api/application-instances/", json_body=body).body[
        "application_instance_id"
    ]

    # Meanwhile: the recording's frames, as the sample feeds them to its model.
    inputs = [preprocess(frame, 224) for frame in video_frames()]

    def nodes_running() -> dict | None:
        state = console.request("GET", f"/api/application-instances/{iid}/").body
        assert state["status"] not in ("DEPLOYMENT_FAILED", "DEPLOYMENT_ERROR"), state
        nodes = {n["node_instance_id"]: n["current_status"] for n in state["node_instances"]}
        done = (state["status"], state["health_status"]) == ("DEPLOYMENT_SUCCEEDED", "RUNNING")
        return state if done and set(nodes.values()) == {"RUNNING"} else None

    state = wait_for(nodes_running, 120, "DEPLOYMENT_SUCCEEDED, every node RUNNING")
    nodes = {n["node_instance_id"] for n in state["node_instances"]}
    assert {CAMERA, "code_node", "model_node"} <= nodes, nodes
    [model_node] = [n for n in state["node_instances"] if n["node_instance_id"] == "model_node"]
    assert model_node["package_name"] == "SQUEEZENET_PYTORCH"

    # The sample's own log: 150 frames through call(), and each frame's output until then.
    app_log = agent.data_dir / "apps" / iid / "logs" / "code" / "app.log"

    def epoch_logged() -> str | None:
        text = app_log.read_text() if app_log.exists() else ""
        assert "Exception" not in text, text[-3000:]
        return text if "avg inference time" in text else None

    text = wait_for(epoch_logged, 60, "the sample's first epoch (150 frames)")
    for line in ("INITIALIZING APPLICATION", "Initialization complete.", "PROCESSING STREAMS",
                 "Result one shape: (1000,)", "epoch length: "):  # fmt: skip
        assert line in text
    logged = [np.array(block.replace(",", " ").split(), np.float64) for block in
              RESULTS.findall(text)]  # fmt: skip
    assert len(logged) >= 100, len(logged)
    assert all(vector.shape == (1000,) for vector in logged)

    # Which frame each logged vector is the output for: the compiled ONNX finds it.
    session = compiled_session(tmp_path)
    onnx_out = np.concatenate([session.run(None, {"data": x})[0] for x in inputs])
    picked = logged[:: max(1, len(logged) // CHECKED)][:CHECKED]
    frames = [int(np.abs(onnx_out - vector).max(axis=1).argmin()) for vector in picked]

    # PyTorch's own output for those frames is what the sample logged.
    torch_out = framework_outputs(
        archive, "PYTORCH", [{"data": inputs[i]} for i in frames], tmp_path / "reference"
    )
    differences = []
    for vector, frame, expected in zip(picked, frames, torch_out, strict=True):
        scores = expected["output0"][0]
        differences.append(float(np.abs(vector - scores).max()))
        assert differences[-1] <= LOGGED_ATOL, (frame, differences[-1])
        # The sample's label is its top class: PyTorch's top class, but for a tie in the log.
        assert scores[int(vector.argmax())] >= scores.max() - LOGGED_ATOL
    print(f"frames {frames}: largest differences {differences}; "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
