"""INT8, the operator's option: a model quantized on frames of a media folder (here the real
test video) with the real person detector, checked against FP32, used by deployments once it
passes and not when it is refused or the operator goes back to FP32."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from applications import deployments, tasks
from applications.models import CompiledModel, NodePackage
from core.models import Installation
from tests.support.deploy import inbound_network_app, register_model_package

pytestmark = pytest.mark.django_db
MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
DETECTOR = MEDIA / "ssdlite_mobilenet_v2_person.onnx"
DESCRIPTOR = {
    "mlModelDescriptor": {
        "envelopeVersion": "2021-01-01",
        "framework": "ONNX",
        "inputs": [{"name": "image_tensor", "shape": [1, 300, 300, 3]}],  # no type, as written
    }
}
API = "/api/model-compiles/"


@pytest.fixture
def media(settings, tmp_path):
    folder = tmp_path / "media" / "lobby"
    folder.mkdir(parents=True)
    shutil.copyfile(MEDIA / "pedestrians.mp4", folder / "pedestrians.mp4")
    settings.TEST_MEDIA_DIRS = [str(tmp_path / "media")]
    return folder


@pytest.fixture
def detector(asset_store, tmp_path):
    if not DETECTOR.is_file():
        pytest.fail(f"{DETECTOR} (the shared person detector) is missing")
    archive = tmp_path / "detector.tar.gz"
    import tarfile

    with tarfile.open(archive, "w:gz") as tar:
        tar.add(DETECTOR, arcname=DETECTOR.name)
    register_model_package(
        archive, DESCRIPTOR, name="PERSON_DETECTOR", account=Installation.get().account_id
    )
    return CompiledModel.objects.none(), archive


def model_sha() -> str:
    from applications.models import PatchVersion

    patch = PatchVersion.objects.get(package_version__package__name="PERSON_DETECTOR")
    doc = json.loads(patch.manifest_text)
    return doc["nodePackage"]["assets"][0]["implementations"][0]["assetUri"][:64]


def deploy_detector(device, host_port: int):
    graph, override = inbound_network_app(host_port)
    doc = json.loads(graph)
    account = Installation.get().account_id
    doc["nodeGraph"]["packages"].append({"name": f"{account}::PERSON_DETECTOR", "version": "1.0"})
    doc["nodeGraph"]["nodes"].append(
        {"name": "model_node", "interface": f"{account}::PERSON_DETECTOR.interface"}
    )
    instance = deployments.request_deployment(
        device=device, name=f"people-{host_port}", manifest_text=json.dumps(doc),
        overrides_text=override,
    )  # fmt: skip
    outcome = tasks.deploy_instance(instance.pk)
    instance.refresh_from_db()
    return outcome, instance


def model_asset(instance) -> dict:
    [node] = [n for n in instance.spec["nodes"] if n["name"] == "model_node"]
    return node["assets"][0]


@pytest.mark.slow
def test_int8_is_calibrated_checked_used_and_given_up(
    app, device, detector, media, operator_client, django_capture_on_commit_callbacks
):
    sha = model_sha()
    assert not CompiledModel.objects.exists()  # an ONNX model needs no compile for FP32
    with django_capture_on_commit_callbacks() as queued:
        response = operator_client.post(
            API, {"asset": sha, "folder": str(media), "threshold": 0.8},
            content_type="application/json",
        )  # fmt: skip
    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "PENDING" and len(queued) == 1
    compiled = CompiledModel.objects.get()

    # Asked for and not done: a deployment waits for it, as for any compile.
    outcome, waiting = deploy_detector(device, 8081)
    assert outcome == "compiling"
    assert waiting.status_description == "Compiling the model of model_node (ONNX to INT8)."

    assert tasks.compile_model(compiled.pk) == "SUCCEEDED"
    shown = operator_client.get(f"{API}{compiled.pk}/").json()
    accuracy = shown["accuracy"]
    assert accuracy["kind"] == "detector" and 0.8 <= accuracy["agreement"] <= 1.0
    assert accuracy["samples"] >= 2 and accuracy["calibration_samples"] >= 4
    assert "boxes matched at IoU >= 0.5" in accuracy["detail"]
    assert shown["in_use"] and shown["result"] != sha

    outcome, instance = deploy_detector(device, 8082)
    assert outcome == "requested"
    asset = model_asset(instance)
    assert asset["sha256"] == shown["result"]
    assert asset["descriptor"]["mlModelDescriptor"]["precisionMode"] == "INT8"

    # The package page shows the report and offers FP32 back.
    package = NodePackage.objects.get(name="PERSON_DETECTOR")
    page = operator_client.get(reverse("package-detail", args=[package.pk])).content.decode()
    assert "used by deployments" in page and "Use FP32 instead" in page
    assert f"refused below {0.8}" in page

    # Back to FP32: the next deployment runs the model as registered.
    response = operator_client.patch(
        f"{API}{compiled.pk}/", {"in_use": False}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["in_use"] is False
    outcome, instance = deploy_detector(device, 8083)
    assert outcome == "requested" and model_asset(instance)["sha256"] == sha

    # Asked again with a bar it cannot reach: refused with the report; FP32 goes on.
    operator_client.post(
        API, {"asset": sha, "folder": str(media), "threshold": 1.0},
        content_type="application/json",
    )  # fmt: skip
    assert tasks.compile_model(compiled.pk) == "FAILED"
    compiled.refresh_from_db()
    assert compiled.message.startswith("the INT8 model is refused: INT8 detector agreement")
    assert compiled.accuracy["threshold"] == 1.0 and compiled.accuracy["agreement"] < 1.0
    outcome, instance = deploy_detector(device, 8084)
    assert outcome == "requested" and model_asset(instance)["sha256"] == sha
    response = operator_client.patch(
        f"{API}{compiled.pk}/", {"in_use": True}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "in_use": ["Only an INT8 compile that succeeded can be used by deployments."]
    }


def test_int8_requests_are_checked(app, device, detector, media, operator_client, viewer_client,
                                   settings, tmp_path):  # fmt: skip
    sha = model_sha()

    def post(client=operator_client, **body):
        return client.post(API, body, content_type="application/json")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert post(asset=sha, folder=str(outside)).json() == {
        "folder": [
            f"the calibration folder {outside} is outside the media folders; allowed: "
            f"{tmp_path / 'media'} (TEST_MEDIA_DIRS)"
        ]
    }
    (tmp_path / "media" / "empty").mkdir()
    assert (
        "holds no images"
        in post(asset=sha, folder=str(tmp_path / "media" / "empty")).json()["folder"][0]
    )
    assert post(asset=sha).json() == {
        "calibration": ["Give data_source or folder to calibrate on (one of them)."]
    }
    assert post(asset=sha, folder=str(media), threshold=1.5).json() == {
        "threshold": ["Ensure this value is less than or equal to 1.0."]
    }
    assert post(asset="0" * 64, folder=str(media)).json() == {
        "asset": [f"No registered model asset has the sha256 {'0' * 64}."]
    }
    assert post(client=viewer_client, asset=sha, folder=str(media)).status_code == 403
    assert not CompiledModel.objects.exists()

    # The package page's form: the same checks, said on the page.
    package = NodePackage.objects.get(name="PERSON_DETECTOR")
    patch = package.versions.get().patches.get()
    asset = patch.assets.get(sha256=sha)
    url = reverse("package-model-int8", args=[package.pk, patch.pk, asset.pk])
    page = operator_client.post(url, {"folder": str(outside), "threshold": "0.85"}, follow=True)
    assert "INT8 not started: the calibration folder" in page.content.decode()
    page = operator_client.post(url, {"folder": str(media), "threshold": "0.85"}, follow=True)
    assert "Compiling INT8: calibrating on frames of" in page.content.decode()
    compiled = CompiledModel.objects.get()
    assert (compiled.precision, compiled.status, compiled.in_use) == ("INT8", "PENDING", True)
    assert compiled.calibration == {"folder": str(media.resolve())}
