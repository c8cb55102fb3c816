"""Acceptance (issue #14): a PyTorch, a TensorFlow and an MXNet model package, through the whole
product, compute what their frameworks compute.

A panorama-cli-shaped project made with ``vantage-cli`` (init-project, create-package,
add-raw-model of each framework's model as Panorama packaged it, build-container --code-only,
package-application) holds three model packages and one code package. Registering them starts
the console's compiles (the Celery worker, the converter envs); the deployment goes through the
console's REST API to a real agent, waits in DEPLOYMENT_PENDING ("Compiling the model of …")
and then runs with the compiled ONNX models. The application's ``run()`` calls each model with
the shapes the public Panorama samples feed (an unbatched float32 [3,224,224], an unbatched uint8
[300,300,3] image, a batched float32 [1,3,128,128]) made by a seeded NumPy generator, and saves
its inputs and the outputs ``call()`` returned in its storage folder. The test makes the same
inputs, runs the original models in their own frameworks (tests/support/framework_reference.py)
and compares.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from applications.models import ApplicationInstance, CompiledModel
from devices.models import DeviceLog
from modelcompile import testing as model_fixtures
from tests.support.appliances import provisioned_agent
from tests.support.cli import cli
from tests.support.framework_reference import framework_outputs, within
from tests.support.waiting import wait_for
from vantage_cli.client import Console

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CLI = str(Path(sys.executable).parent / "vantage-cli")
SEED = 14
# Each output of the application equals the framework's own within 1e-3 of that output's own
# scale (max |framework output|), plus 1e-6 for outputs that are all near zero. A softmax over
# 1000 classes (values near 1e-3) is held to about 1e-6, boxes in 0..1 to 1e-3.
RTOL, ATOL = 1e-3, 1e-6

# The application: calls each model node once from run(), as the public samples call theirs,
# and saves what it fed and what came back; then stays running, as an application does.
APP_PY = f"""
import os
import threading

import numpy as np
import panoramasdk

STORAGE = os.environ.get("PANORAMA_STORAGE_DIR", "/opt/aws/panorama/storage")


def sample_inputs():
    rng = np.random.default_rng({SEED})
    return {{
        "classifier": rng.standard_normal((3, 224, 224), dtype=np.float32),
        "detector": rng.integers(0, 256, size=(300, 300, 3), dtype=np.uint8),
        "two_outputs": rng.standard_normal((1, 3, 128, 128), dtype=np.float32),
    }}


class Application(panoramasdk.node):
    def run(self):
        inputs = sample_inputs()
        outputs = {{
            "classifier": self.call({{"data": inputs["classifier"]}}, "classifier"),
            "detector": self.call({{"image_tensor": inputs["detector"]}}, "detector"),
            "two_outputs": self.call({{"data": inputs["two_outputs"]}}, "two_outputs"),
        }}
        arrays = {{f"in.{{name}}": value for name, value in inputs.items()}}
        for name, result in outputs.items():
            arrays.update({{f"out.{{name}}.{{i}}": value for i, value in enumerate(result)}})
        partial = os.path.join(STORAGE, "outputs.partial.npz")
        np.savez(partial, **arrays)
        os.replace(partial, os.path.join(STORAGE, "outputs.npz"))
        shapes = {{name: [list(v.shape) for v in result] for name, result in outputs.items()}}
        print("model outputs saved", shapes, flush=True)
        threading.Event().wait()


Application().run()
"""


def sample_inputs() -> dict[str, np.ndarray]:
    """The application's inputs, made the same way (the test compares them too)."""
    rng = np.random.default_rng(SEED)
    return {
        "classifier": rng.standard_normal((3, 224, 224), dtype=np.float32),
        "detector": rng.integers(0, 256, size=(300, 300, 3), dtype=np.uint8),
        "two_outputs": rng.standard_normal((1, 3, 128, 128), dtype=np.float32),
    }


# node (= asset) name -> package, fixture maker. The packages are registered in this order, so
# the TensorFlow compile (the slowest) is queued last. The worker's two processes take tasks in
# queue order, one at a time (prefetch 1), so the deployment's task, queued after the three
# compiles, starts only once the third one has, and finds at least one still running: the
# timeline shows the wait whatever the machine's speed.
MODELS = {
    "classifier": ("CLASSIFIER_PYTORCH", model_fixtures.make_torch_classifier),
    "two_outputs": ("TWO_OUTPUTS_MXNET", model_fixtures.make_mxnet_two_outputs),
    "detector": ("DETECTOR_TENSORFLOW", model_fixtures.make_tf_detector),
}
CODE = "MODELS_CODE"


def make_project(environment: dict[str, str], tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """The project as a developer makes it with the CLI; the model archives it packaged."""
    cli(environment, tmp_path, "init-project", "--name", "three_frameworks")
    project = tmp_path / "three_frameworks"
    archives = {}
    cli(environment, project, "create-package", "--name", CODE)
    for node, (package, make) in MODELS.items():
        cli(environment, project, "create-package", "--name", package, "--type", "Model")
        folder = next((project / "packages").glob(f"*-{package}-1.0"))
        archive, descriptor = make(tmp_path / "models" / node)
        archives[node] = archive
        (folder / "descriptor.json").write_text(json.dumps(descriptor, indent=4))
        rel = folder.relative_to(project)
        cli(environment, project, "add-raw-model", "--model-asset-name", node,
            "--model-local-path", archive, "--descriptor-path", rel / "descriptor.json",
            "--packages-path", rel)  # fmt: skip
    code = next((project / "packages").glob(f"*-{CODE}-1.0"))
    (code / "src" / "app.py").write_text(APP_PY)
    descriptor = json.loads((code / "descriptor.json").read_text())
    descriptor["runtimeDescriptor"]["entry"]["name"] = "/panorama/app.py"
    (code / "descriptor.json").write_text(json.dumps(descriptor, indent=4))
    cli(environment, project, "build-container", "--container-asset-name", "code",
        "--package-path", code.relative_to(project), "--code-only")  # fmt: skip
    assert "0 invalid" in cli(environment, project, "validate", ".")
    return project, archives


def test_three_frameworks_compile_deploy_and_compute_what_their_frameworks_compute(
    make_agent,
    live_stack,
    env,
    tmp_path,
):
    started = time.monotonic()
    device, agent = provisioned_agent(make_agent, "frameworks-1", live_stack.url)
    project, archives = make_project(env, tmp_path)
    packages = sorted((project / "packages").iterdir())
    order = [next(p for p in packages if p.name.endswith(f"-{CODE}-1.0"))] + [
        next(p for p in packages if p.name.endswith(f"-{package}-1.0"))
        for package, _ in MODELS.values()
    ]
    # One package-application, in this order: registering a model package queues its compile.
    paths = [folder.relative_to(project) for folder in order]
    assert "4 package(s) registered (4 new" in cli(
        env, project, "package-application", "--packages-path", *paths
    )

    # Deploy at once, through the REST API, while the compiles run.
    graph = (project / "graphs" / "three_frameworks" / "graph.json").read_text()
    console = Console(env["VANTAGE_URL"], env["VANTAGE_TOKEN"], token_source="test")
    body = {"name": "three-frameworks", "device": device.device_id, "manifest_payload": graph}
    created = console.request("POST", "/api/application-instances/", json_body=body).body
    iid = created["application_instance_id"]

    # Meanwhile, the original models in their own frameworks, on the same inputs (batched as
    # their descriptors declare them).
    inputs = sample_inputs()
    declared = {"classifier": "data", "detector": "image_tensor", "two_outputs": "data"}
    batched = {node: value.reshape(1, *value.shape[-3:]) for node, value in inputs.items()}
    framework = {"classifier": "PYTORCH", "detector": "TENSORFLOW", "two_outputs": "MXNET"}
    expected = {
        node: framework_outputs(
            archives[node], framework[node], [{declared[node]: batched[node]}], tmp_path / node
        )[0]
        for node in MODELS
    }

    def followed() -> dict | None:
        state = console.request("GET", f"/api/application-instances/{iid}/").body
        assert state["status"] not in ("DEPLOYMENT_FAILED", "DEPLOYMENT_ERROR"), state
        ok = (state["status"], state["health_status"]) == ("DEPLOYMENT_SUCCEEDED", "RUNNING")
        return state if ok else None

    state = wait_for(followed, 120, "DEPLOYMENT_SUCCEEDED / RUNNING")
    descriptions = [event["description"] for event in state["events"]]
    compiling = [d for d in descriptions if d.startswith("Compiling the model of ")]
    assert compiling, descriptions
    assert all(d.split(" (")[1].split(" to ONNX")[0] in ("PyTorch", "TensorFlow", "MXNet")
               for d in compiling), compiling  # fmt: skip
    statuses = [event["status"] for event in state["events"]]
    assert statuses[0] == "DEPLOYMENT_PENDING" and statuses[-1] == "DEPLOYMENT_SUCCEEDED"

    # The device got the compiled models, not the raw ones.
    instance = ApplicationInstance.objects.get(application_instance_id=iid)
    compiled = {
        c.framework: c
        for c in CompiledModel.objects.filter(precision="FP32").select_related("source", "result")
    }
    assert {c.status for c in compiled.values()} == {"SUCCEEDED"}, compiled
    for node in instance.spec["nodes"]:
        if node["name"] in MODELS:
            [asset] = node["assets"]
            assert asset["sha256"] == compiled[framework[node["name"]]].result.sha256

    # What the application's call()s returned.
    saved = agent.data_dir / "apps" / iid / "storage" / "outputs.npz"
    wait_for(saved.is_file, 60, "the application's outputs")
    wait_for(
        lambda: DeviceLog.objects.filter(
            application_instance_id=iid, message__startswith="model outputs saved"
        ).exists(),
        30,
        "the application's line in the console's log",
    )
    with np.load(saved) as arrays:
        got = {key: arrays[key] for key in arrays.files}
    for node, value in inputs.items():
        assert np.array_equal(got[f"in.{node}"], value), node  # the same inputs, exactly

    report = {}
    for node in MODELS:
        names = [o["name"] for o in compiled[framework[node]].verification["outputs"]]
        reference = expected[node]
        assert len(names) == len(reference), (node, names, list(reference))
        for index, name in enumerate(names):
            # TensorFlow's outputs keep their signature names; PyTorch's and MXNet's are
            # positional (output0 …; MXNet's symbol calls them <name>_output).
            key = name if name in reference else list(reference)[index]
            actual = got[f"out.{node}.{index}"]
            report[f"{node}.{name}"] = within(actual, reference[key], ATOL, RTOL)
    # Beyond closeness: the same decisions.
    assert got["out.classifier.0"].argmax() == expected["classifier"]["output0"].argmax()
    det_names = [o["name"] for o in compiled["TENSORFLOW"].verification["outputs"]]
    for name in ("detection_classes", "num_detections"):
        assert np.array_equal(
            got[f"out.detector.{det_names.index(name)}"], expected["detector"][name]
        )
    print(f"{compiling}; largest differences: {report}; {time.monotonic() - started:.1f} s")
    assert os.path.getsize(saved) > 0
