"""Model packages in a framework's own format: compiled to ONNX when registered, deployments
waiting for their compile, the compiled asset in the device's spec, and failures explained.

The compiles are real (the PyTorch converter environment, ``python -m modelcompile install``);
the Celery tasks run in the test's own process, as the worker would run them.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from applications import deployments, tasks
from applications.assets import open_asset
from applications.models import ApplicationInstance, CompiledModel, NodePackage
from core.models import Installation
from core.status import ModelCompileStatus
from modelcompile import envs
from modelcompile import testing as model_fixtures
from tests.support.deploy import (
    ACCOUNT,
    MODEL_PACKAGE,
    PACKAGE,
    inbound_network_app,
    register_model_package,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def model_app(name: str = MODEL_PACKAGE, host_port: int = 8081) -> tuple[str, str]:
    graph, override = inbound_network_app(host_port)
    doc = json.loads(graph)
    doc["nodeGraph"]["packages"].append({"name": f"{ACCOUNT}::{name}", "version": "1.0"})
    doc["nodeGraph"]["nodes"].append(
        {"name": "model_node", "interface": f"{ACCOUNT}::{name}.interface", "launch": "onAppStart"}
    )
    return json.dumps(doc), override


def deploy(device, host_port: int = 8081) -> ApplicationInstance:
    graph, override = model_app(host_port=host_port)
    return deployments.request_deployment(
        device=device, name="classifier", manifest_text=graph, overrides_text=override
    )


@pytest.fixture
def classifier(tmp_path):
    return model_fixtures.make_torch_classifier(tmp_path)


def test_a_pytorch_model_is_compiled_when_registered_and_deployed_compiled(
    app, device, classifier, django_capture_on_commit_callbacks
):
    archive, descriptor = classifier
    with django_capture_on_commit_callbacks() as queued:
        register_model_package(archive, descriptor)
    compiled = CompiledModel.objects.get()
    assert (compiled.status, compiled.framework, compiled.precision) == (
        "PENDING", "PYTORCH", "FP32",
    )  # fmt: skip
    assert len(queued) == 1  # the compile task, once the registration commits

    # Deployed before the compile ran: it waits, and says for what.
    instance = deploy(device)
    assert tasks.deploy_instance(instance.pk) == "compiling"
    instance.refresh_from_db()
    assert instance.status == "DEPLOYMENT_PENDING"
    assert instance.status_description == ("Compiling the model of model_node (PyTorch to ONNX).")

    assert tasks.compile_model(compiled.pk) == ModelCompileStatus.SUCCEEDED
    assert tasks.compile_model(compiled.pk) == "already claimed"
    compiled.refresh_from_db()
    assert compiled.result is not None and compiled.result.sha256 != compiled.source.sha256
    assert compiled.verification["tolerance"] == {"atol": 1e-6, "rtol": 1e-3}
    assert all(o["max_abs_diff"] <= o["allowed"] for o in compiled.verification["outputs"])
    # The compiled asset is an archive holding exactly one model.onnx: what appliances unpack.
    import tarfile

    with open_asset(compiled.result) as handle, tarfile.open(fileobj=handle, mode="r:gz") as tar:
        assert [m.name for m in tar.getmembers() if m.isfile()] == ["model.onnx"]

    # The deployment goes on (compile_model queued it again; here it runs in this process).
    assert tasks.deploy_instance(instance.pk) == "requested"
    instance.refresh_from_db()
    [model_node] = [n for n in instance.spec["nodes"] if n["name"] == "model_node"]
    [asset] = model_node["assets"]
    assert (asset["sha256"], asset["size"]) == (compiled.result.sha256, compiled.result.size)
    assert asset["path"] == f"/agent/v1/assets/{compiled.result.sha256}"
    assert (
        asset["descriptor"]["mlModelDescriptor"]["inputs"]
        == descriptor["mlModelDescriptor"]["inputs"]
    )
    events = [e.description for e in instance.events.order_by("pk")]
    assert "Compiling the model of model_node (PyTorch to ONNX)." in events

    # A second deployment of the same model reuses the compile.
    again = deploy(device, host_port=8082)
    assert tasks.deploy_instance(again.pk) == "requested"
    assert CompiledModel.objects.count() == 1


def test_a_model_that_cannot_be_compiled_fails_its_deployment_with_the_reason(
    app, device, tmp_path
):
    archive, descriptor = model_fixtures.make_torch_eager_pickle(tmp_path)
    register_model_package(archive, descriptor)
    compiled = CompiledModel.objects.get()
    assert tasks.compile_model(compiled.pk) == ModelCompileStatus.FAILED
    compiled.refresh_from_db()
    assert "torch.jit" in compiled.message and not compiled.framework_missing

    instance = deploy(device)
    assert tasks.deploy_instance(instance.pk) == "compile failed"
    instance.refresh_from_db()
    assert instance.status == "DEPLOYMENT_FAILED"
    assert instance.status_description.startswith("The model of model_node could not be compiled: ")


def test_a_missing_framework_is_compiled_once_it_is_installed(
    app, device, classifier, monkeypatch, tmp_path
):
    archive, descriptor = classifier
    installed = str(envs.compiler_home())
    monkeypatch.setenv("VANTAGE_COMPILER_HOME", str(tmp_path / "no-compilers"))
    register_model_package(archive, descriptor)
    compiled = CompiledModel.objects.get()
    assert tasks.compile_model(compiled.pk) == ModelCompileStatus.FAILED
    compiled.refresh_from_db()
    assert compiled.framework_missing
    assert "python -m modelcompile install pytorch" in compiled.message

    # Installed now: the next deployment starts the compile again rather than failing.
    monkeypatch.setenv("VANTAGE_COMPILER_HOME", installed)
    instance = deploy(device)
    assert tasks.deploy_instance(instance.pk) == "compiling"
    compiled.refresh_from_db()
    assert (compiled.status, compiled.message) == ("PENDING", "")
    assert tasks.compile_model(compiled.pk) == ModelCompileStatus.SUCCEEDED
    assert tasks.deploy_instance(instance.pk) == "requested"


def test_the_package_page_shows_the_compile(app, classifier, operator_client):
    archive, descriptor = classifier
    register_model_package(archive, descriptor, account=Installation.get().account_id)
    package = NodePackage.objects.get(name=MODEL_PACKAGE)
    url = reverse("package-detail", args=[package.pk])
    page = operator_client.get(url).content.decode()
    assert "Compiled to ONNX from PYTORCH" in page and 'hx-trigger="every 2s"' in page
    tasks.compile_model(CompiledModel.objects.get().pk)
    page = operator_client.get(url).content.decode()
    assert "largest difference" in page and 'hx-trigger="every 2s"' not in page


def test_the_installation_says_which_frameworks_it_compiles(operator_client, monkeypatch,
                                                             tmp_path):  # fmt: skip
    body = operator_client.get("/api/installation/").json()
    assert body["model_compilers"]["PYTORCH"] == {"available": True, "reason": ""}
    monkeypatch.setenv("VANTAGE_COMPILER_HOME", str(tmp_path))
    body = operator_client.get("/api/installation/").json()
    missing = body["model_compilers"]["TENSORFLOW"]
    assert not missing["available"] and "modelcompile install tensorflow" in missing["reason"]
    assert PACKAGE  # the code package of these applications
