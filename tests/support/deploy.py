"""Deploying on the console (Django): the sample applications registered the way vantage-cli
would (container asset, descriptor, package.json), cameras and camera packages, model packages,
the REST API's and the wizard's requests, the workflow's task and a device's reports."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

from applications import deployments, tasks
from applications.assets import store_asset
from applications.camera_packages import register_camera_package
from applications.models import ApplicationInstance
from applications.registry import register_patch
from datasources.models import DataSource, StreamCheck
from devicelink.apps import ApplicationReport
from devices.models import Device
from tests.support.cli_project import CLI_RESOURCES
from tests.support.paths import REFERENCE
from tests.support.samples import (
    ACCOUNT,
    APP_PY,
    DESCRIPTOR,
    PACKAGE,
    camera_graph,
    inbound_network_app,
)
from vantage_cli.build import pack_container


def register_inbound_network_package(
    app_py: str = APP_PY, image: Path | None = None, requirements: list[Any] | None = None
) -> str:
    """Register the package (its latest patch); returns the patch version. ``image``: a
    container image's export (with ``/panorama/app.py``) as its code asset, instead of the
    code-only archive; ``requirements``: its implementation's (GPU access, …)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "src").mkdir()
        (root / "src" / "app.py").write_text(app_py)
        descriptor = root / "descriptor.json"
        descriptor.write_text(json.dumps(DESCRIPTOR))
        if image is not None:
            with image.open("rb") as stream:
                sha = store_asset(stream, filename=image.name).asset.sha256
        else:
            sha = pack_container(root / "src", descriptor, set(), root / "code.tar.gz")
            store_asset(io.BytesIO((root / "code.tar.gz").read_bytes()), filename=f"{sha}.tar.gz")
        descriptor_bytes = descriptor.read_bytes()
        descriptor_sha = store_asset(
            io.BytesIO(descriptor_bytes), filename="descriptor.json"
        ).asset.sha256
    package = {
        "nodePackage": {
            "envelopeVersion": "2021-01-01",
            "name": PACKAGE,
            "version": "1.0",
            "description": "A code node that answers HTTP on its container port 8080",
            "assets": [
                {
                    "name": "code",
                    "implementations": [
                        {
                            "type": "container",
                            "assetUri": f"{sha}.tar.gz",
                            "descriptorUri": f"{descriptor_sha}.json",
                            **({"requirements": requirements} if requirements else {}),
                        }
                    ],
                }
            ],
            "interfaces": [
                {
                    "name": "code_interface",
                    "category": "business_logic",
                    "asset": "code",
                    "inputs": [{"name": "video_in", "type": "media"}],
                    "outputs": [{"name": "video_out", "type": "media"}],
                    "network": {"inboundPorts": [{"port": 8080, "description": "http"}]},
                }
            ],
        }
    }
    registered = register_patch(
        account_id=ACCOUNT, name=PACKAGE, version="1.0", manifest_bytes=json.dumps(package).encode()
    )
    return registered.patch.patch


def camera_override(sources: list[str], host_port: int = 8081, paused=()) -> dict[str, Any]:
    """Replace camera_node with one node per data source (camera package ``<account>::<name>``)."""
    from core.models import Installation

    account = Installation.get().account_id  # camera packages belong to this installation
    return {
        "nodeGraphOverrides": {
            "envelopeVersion": "2021-01-01",
            "packages": [{"name": f"{account}::{name}", "version": "1.0"} for name in sources],
            "nodes": [
                {
                    "name": name,
                    "interface": f"{account}::{name}.{name}",
                    "launch": "onSignal" if name in paused else "onAppStart",
                }
                for name in sources
            ],
            "nodeOverrides": [
                {"replace": "camera_node", "with": [{"name": name} for name in sources]}
            ],
            "networkRoutingRules": [
                {"node": "code_node", "containerPort": 8080, "hostPort": host_port}
            ],
        }
    }


def camera_app(sources: list[str], host_port: int = 8081, paused=()) -> tuple[str, str]:
    """The graph and override texts of an application with its camera node fed by ``sources``."""
    return (
        json.dumps(camera_graph(), indent=2),
        json.dumps(camera_override(sources, host_port, paused), indent=2),
    )


def register_camera(name: str, url: str, username: str = "", password: str = ""):
    """A data source with its camera package, as registering one in the console does."""
    from applications.camera_packages import register_camera_package
    from datasources.models import DataSource

    source = DataSource(name=name, url=url)
    source.set_credentials(username, password)
    source.save()
    register_camera_package(source)
    return source


# --- an application's own camera package (applications/cameranodes.py) ------------------------

PACKAGE_PASSWORD = "Pkg-pass-4471"
OWN_CAMERA = "lobby_cam"


def own_camera_package(url: str, username: str = "cam", password: str = PACKAGE_PASSWORD) -> bytes:
    """panorama-cli's camera_package.json with the camera's values as its defaults."""
    document = json.loads((CLI_RESOURCES / "camera_package.json").read_text())
    inputs = document["nodePackage"]["interfaces"][0]["inputs"]
    values = {"username": username, "password": password, "streamUrl": url}
    for port in inputs:
        port["default"] = values[port["name"]]
    return json.dumps(document, indent=4).encode()


def account() -> str:
    """This installation's account: the console's pages list its packages."""
    from core.models import Installation

    return Installation.get().account_id


def register_own_package(name: str, manifest: bytes):
    return register_patch(account_id=account(), name=name, version="1.0", manifest_bytes=manifest)


def own_camera_graph(package: str = OWN_CAMERA, interface: str = "rtsp_interface", **node) -> dict:
    """The code node fed by a camera node of the application's own camera package."""
    graph = json.loads(inbound_network_app()[0])
    graph["nodeGraph"]["packages"].append({"name": f"{account()}::{package}", "version": "1.0"})
    graph["nodeGraph"]["nodes"].append(
        {"name": "camera_node", "interface": f"{account()}::{package}.{interface}", **node}
    )
    graph["nodeGraph"]["edges"] = [
        {"producer": "camera_node.video_out", "consumer": "code_node.video_in"}
    ]
    return graph


# --- the REST API's deploy requests (applications/tests/test_deploy_api.py and its neighbours) ---


API = "/api/application-instances/"


def body(device: Device, host_port: int = 8081, name: str = "inbound", **extra) -> dict:
    graph, override = inbound_network_app(host_port)
    return {
        "name": name,
        "device": device.device_id,
        "manifest_payload": graph,
        "manifest_overrides_payload": override,
        **extra,
    }


def deploy(client, data: dict):
    return client.post(API, data, content_type="application/json")


def url(instance_id: str, suffix: str = "") -> str:
    return f"{API}{instance_id}/{suffix}"


def camera_body(device: Device, sources: list[str], name: str = "cameras", **kwargs) -> dict:
    return {
        "name": name,
        "device": device.device_id,
        "manifest_payload": json.dumps(camera_graph(), indent=2),
        "manifest_overrides_payload": json.dumps(camera_override(sources, **kwargs), indent=2),
    }


def run_workflow(instance_id: str) -> ApplicationInstance:
    """What the worker does with the queued task: DEPLOYMENT_PENDING → DEPLOYMENT_REQUESTED."""
    instance = ApplicationInstance.objects.get(application_instance_id=instance_id)
    assert tasks.deploy_instance(instance.pk) == "requested"
    instance.refresh_from_db()
    return instance


# --- a device's report of an instance, as the link hands it over -----------------------------


def report(device, instance, status, nodes=(), message="", generation=None):
    deployments.apply_report(
        device,
        ApplicationReport(
            application_instance_id=instance.application_instance_id,
            generation=instance.generation if generation is None else generation,
            status=status,
            message=message,
            nodes=[{"name": n, "status": s, "message": m} for n, s, m in nodes],
        ),
    )
    instance.refresh_from_db()


def wizard_app() -> tuple[str, str, str]:
    """The inbound_network-shaped app registered: (patch, graph, override)."""
    patch = register_inbound_network_package()
    graph, override = inbound_network_app()
    return patch, graph, override


# --- the deploy wizard -----------------------------------------------------------------------


URL = "/applications/deploy/"
PREFIX = "deploy_wizard"


def camera_app_graph() -> str:
    """The same code package behind a camera placeholder, with one parameter of each type."""
    threshold = {
        "title": "Detection threshold",
        "description": "The minimum confidence.",
        "constraintText": "A number from 0 to 1, with up to two decimals.",
        "constraintRegex": r"0(\.[0-9]{1,2})?|1(\.0{1,2})?",
    }
    graph = {
        "nodeGraph": {
            "envelopeVersion": "2021-01-01",
            "packages": [
                {"name": f"{ACCOUNT}::{PACKAGE}", "version": "1.0"},
                {"name": "panorama::abstract_rtsp_media_source", "version": "1.0"},
            ],
            "nodes": [
                {"name": "code_node", "interface": f"{ACCOUNT}::{PACKAGE}.code_interface"},
                {
                    "name": "camera_node",
                    "interface": "panorama::abstract_rtsp_media_source.rtsp_v1_interface",
                    "overridable": True,
                    "overrideMandatory": True,
                    "decorator": {"title": "Entrance cameras", "description": "Doors, inside."},
                },
                {
                    "name": "threshold",
                    "interface": "float32",
                    "value": 0.5,
                    "overridable": True,
                    "decorator": threshold,
                },
                {"name": "verbose", "interface": "boolean", "value": False, "overridable": True},
                {"name": "frames", "interface": "int32", "value": 10, "overridable": True},
                {"name": "label", "interface": "string", "value": "lobby", "overridable": True},
                {"name": "fixed", "interface": "string", "value": "kept"},
            ],
            "edges": [{"producer": "camera_node.video_out", "consumer": "code_node.video_in"}],
            "networkRoutingRules": [{"node": "code_node", "containerPort": 8080, "hostPort": 8090}],
        }
    }
    return json.dumps(graph, indent=2)


def add_camera(name: str, check: str | None = "SUCCEEDED") -> DataSource:
    source = DataSource.objects.create(name=name, url=f"rtsp://10.0.0.5/{name}")
    register_camera_package(source)
    if check:
        StreamCheck.objects.create(
            data_source=source, status=check, codec="h264", width=1280, height=720, fps=15,
            first_frame_ms=300, message="" if check == "SUCCEEDED" else "connection refused",
        )  # fmt: skip
    return source


def post(client, step: str, data: dict | None = None, **extra):
    payload = {f"{PREFIX}-current_step": step}
    payload.update({f"{step}-{key}": value for key, value in (data or {}).items()})
    payload.update(extra)
    return client.post(URL, payload)


def current_step(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.context["wizard"]["steps"].current


def walk_to(client, step: str, graph: str, device: Device, **values) -> object:
    """Start the wizard and answer every step before ``step`` (values override answers)."""
    client.get(URL)
    answers = {
        "manifest": {"graph": graph},
        "details": {"name": values.pop("name", "inbound"), "description": "From the test"},
        "role": {"runtime_role": values.pop("runtime_role", "")},
        "device": {"device": device.device_id},
    }
    answers.update(values)
    response = None
    for name in ("manifest", "details", "role", "device", "datasources", "configure", "review"):
        if name == step:
            return response
        if name not in answers:
            continue
        response = post(client, name, answers[name])
        assert response.status_code == 200, response.status_code
        assert not response.context["form"].errors, (name, response.context["form"].errors)
    return response


# --- the sample developer guide's code package -----------------------------------------------


CODE_PACKAGE = (
    REFERENCE
    / "aws-panorama-developer-guide/sample-apps/aws-panorama-sample/packages"
    / "123456789012-SAMPLE_CODE-1.0/package.json"
)


# --- a model package as panorama-cli's add-raw-model leaves it -------------------------------


MODEL_PACKAGE = "SQUEEZENET_PYTORCH"


def register_model_package(
    archive: Path, descriptor: dict, name: str = MODEL_PACKAGE, account: str = ACCOUNT
) -> None:
    """A model package as panorama-cli's add-raw-model leaves it, registered."""
    model_sha = store_asset(io.BytesIO(archive.read_bytes()), filename=archive.name).asset.sha256
    descriptor_sha = store_asset(
        io.BytesIO(json.dumps(descriptor).encode()), filename="descriptor.json"
    ).asset.sha256
    package = {
        "nodePackage": {
            "envelopeVersion": "2021-01-01", "name": name, "version": "1.0",
            "assets": [{"name": "model_asset", "implementations": [
                {"type": "model", "assetUri": f"{model_sha}.tar.gz",
                 "descriptorUri": f"{descriptor_sha}.json"}]}],
            "interfaces": [{"name": "interface", "category": "ml_model", "asset": "model_asset",
                            "inputs": [{"name": "video_in", "type": "media"}],
                            "outputs": [{"name": "video_out", "type": "media"}]}],
        }
    }  # fmt: skip
    register_patch(
        account_id=account, name=name, version="1.0", manifest_bytes=json.dumps(package).encode()
    )


def instance_state(instance: ApplicationInstance) -> tuple[str, str]:
    """The instance's status and health, read again."""
    instance.refresh_from_db()
    return instance.status, instance.health_status
