"""Panorama applications that need their own container image, run unchanged.

Each fixture in ``tests/fixtures/app_images`` is a panorama-cli project in the shape of a real
Panorama application. As a migrating developer would: ``panorama-cli import-application``,
``build-container`` (its Dockerfile built with buildah on the base image), ``package-application``
to the console, then a deployment through the console's REST API to a real agent, which
unpacks the image and runs the entry in it; the application's own output proves it ran in its
image. The fourth is a ``docker export``-style tarball made by the builder itself, not by the
CLI, put in the project's assets/ by hand as a customer brings their Panorama builds.

Building needs root, buildah and mmdebstrap (``./vantage test`` installs them); the base image
and buildah's layers are cached under the Vantage cache between runs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from applications.models import ApplicationInstance
from devices.models import DeviceLog
from imagebuild.builder import Buildah
from tests.support.appliances import provisioned_agent
from tests.support.waiting import wait_for
from vantage_cli.client import Console

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "app_images"
CLI = str(Path(sys.executable).parent / "panorama-cli")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("buildah") is None or shutil.which("mmdebstrap") is None,
    reason="building images needs root, buildah and mmdebstrap (./vantage test installs them)",
)


def cli(environment: dict[str, str], project: Path, *args: str) -> str:
    done = subprocess.run(
        [CLI, *args], cwd=project, env=environment, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def package_folder(project: Path) -> Path:
    return next(p for p in (project / "packages").iterdir() if p.is_dir())


def prepared(environment: dict[str, str], tmp_path: Path, name: str) -> Path:
    project = tmp_path / name
    shutil.copytree(FIXTURES / name, project)
    cli(environment, project, "import-application")  # the console's account
    return project


def build_with_the_cli(environment: dict[str, str], project: Path) -> None:
    folder = package_folder(project)
    out = cli(environment, project, "build-container", "--container-asset-name", "code_asset",
              "--package-path", str(folder.relative_to(project)))  # fmt: skip
    assert "Container asset for the package has been successfully built" in out


def build_with_buildah_itself(project: Path) -> None:
    """``buildah build --output type=tar``: the builder's own export, gzip'd as panorama-cli
    gzips it, and named in package.json by hand (assetUri, descriptorUri)."""
    folder = package_folder(project)
    dockerfile = folder / "Dockerfile"
    buildah = Buildah()
    buildah.use_base_for(dockerfile)
    exported = project / "exported.tar"
    subprocess.run(
        [*buildah.argv, "build", "--isolation", buildah.isolation, "--pull=never",
         "--output", f"type=tar,dest={exported}", "-f", str(dockerfile), str(folder)],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    data = gzip.compress(exported.read_bytes(), compresslevel=1)
    exported.unlink()
    asset = f"{hashlib.sha256(data).hexdigest()}.tar.gz"
    (project / "assets" / asset).write_bytes(data)
    descriptor = (folder / "descriptor.json").read_bytes()
    descriptor_uri = f"{hashlib.sha256(descriptor).hexdigest()}.json"
    (project / "assets" / descriptor_uri).write_bytes(descriptor)
    package = json.loads((folder / "package.json").read_text())
    implementation = {"type": "container", "assetUri": asset, "descriptorUri": descriptor_uri}
    package["nodePackage"]["assets"] = [{"name": "code_asset", "implementations": [implementation]}]
    (folder / "package.json").write_text(json.dumps(package, indent=4))


def deploy(environment: dict[str, str], device, project: Path, name: str):
    """POST /api/application-instances/, as an integrator's script deploys."""
    graph = next((project / "graphs").glob("*/graph.json")).read_text()
    console = Console(environment["VANTAGE_URL"], environment["VANTAGE_TOKEN"], token_source="test")
    body = {"name": name, "device": device.device_id, "manifest_payload": graph}
    created = console.request("POST", "/api/application-instances/", json_body=body).body
    return ApplicationInstance.objects.get(
        application_instance_id=created["application_instance_id"]
    )


def running(instance) -> bool:
    instance.refresh_from_db()
    assert instance.status not in ("DEPLOYMENT_FAILED",), instance.status_description
    return (instance.status, instance.health_status) == ("DEPLOYMENT_SUCCEEDED", "RUNNING")


def output_line(instance, prefix: str) -> str | None:
    line = DeviceLog.objects.filter(
        application_instance_id=instance.application_instance_id, message__startswith=prefix
    ).first()
    return line.message if line else None


@needs_root
def test_applications_with_their_own_images_run_unchanged(make_agent, live_stack, env, tmp_path):
    device, agent = provisioned_agent(make_agent, "images-1", live_stack.url)
    projects = {name: prepared(env, tmp_path, name) for name in
                ("pip_and_apt", "numpy_one", "console_script", "exported")}  # fmt: skip
    for name in ("pip_and_apt", "numpy_one", "console_script"):
        build_with_the_cli(env, projects[name])
    build_with_buildah_itself(projects["exported"])
    for project in projects.values():
        assert "All packages uploaded and registered successfully" in cli(
            env, project, "package-application"
        )
    instances = {name: deploy(env, device, project, name) for name, project in projects.items()}
    for name, instance in instances.items():
        wait_for(lambda i=instance: running(i), 300, f"{name} to run")

    def seen(name: str, prefix: str) -> str:
        return wait_for(
            lambda: output_line(instances[name], prefix), 60, f"{name}'s output {prefix!r}"
        )

    # (a) a pure-Python and a compiled package from requirements.txt, and a Debian package.
    report = json.loads(seen("pip_and_apt", "fixture-a ").removeprefix("fixture-a "))
    assert report == {"jq": "[1,2]", "msgpack": {"count": 3}, "requests": "2.32.3"}
    # (b) NumPy 1.x, with the APIs NumPy 2 removed.
    line = seen("numpy_one", "fixture-b ")
    assert line.startswith("fixture-b numpy 1.") and "tostring 00010203 product 42" in line
    # (c) the entry's script runs a console script pip installed into the image.
    assert seen("console_script", "fixture-c ") == "fixture-c from /usr/local/bin/count-app in /"
    # (d) the builder's own export: Panorama's contract (/, container=podman), the entry's
    # python3.8 answered by the image's python3, Vantage's SDK bound in.
    line = seen("exported", "fixture-d ")
    assert "cwd=/ container=podman python=3.11." in line, line
    assert "cv2=4." in line and "sdk=/opt/vantage/python/panoramasdk" in line, line
    assert "the image has no python3.8: the entry runs with its python3" in agent.log()
