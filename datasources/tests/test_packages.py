"""Camera streams as node packages, named as Panorama's node-from-template jobs name them."""

from __future__ import annotations

import hashlib
import json

import pytest

from applications.models import NodeFromTemplateJob, NodePackage, PatchVersion
from core.models import Installation
from datasources.models import DataSource
from manifests import validate_override
from tests.support.reference import REFERENCE

SAMPLE = REFERENCE / "aws-panorama-developer-guide/sample-apps/aws-panorama-sample"


@pytest.fixture
def camera(operator_client) -> DataSource:
    response = operator_client.post(
        "/api/datasources/",
        {"name": "MY_CAMERA", "url": "rtsp://10.0.0.5/s", "username": "u", "password": "Pw-123456"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return DataSource.objects.get(name="MY_CAMERA")


@pytest.mark.django_db
def test_registering_a_camera_registers_its_package(camera):
    account = Installation.get().account_id
    package = NodePackage.objects.get(account_id=account, name="MY_CAMERA")
    patch = PatchVersion.objects.get(package_version__package=package, is_latest=True)
    assert patch.package_version.version == "1.0"
    assert patch.status == "REGISTER_COMPLETED" and patch.registered is not None
    assert patch.patch == hashlib.sha256(patch.manifest_text.encode()).hexdigest()
    interface = patch.interfaces.get()
    assert (interface.name, interface.category) == ("MY_CAMERA", "MEDIA_SOURCE")
    assert [p["name"] for p in interface.outputs] == ["video_out"]
    job = NodeFromTemplateJob.objects.get(data_source=camera)
    assert (job.status, job.template_type, job.patch) == ("SUCCEEDED", "RTSP_CAMERA_STREAM", patch)
    assert "Pw-123456" not in patch.manifest_text and '"u"' not in patch.manifest_text


@pytest.mark.django_db
def test_an_override_names_the_camera_as_in_panorama(camera):
    account = Installation.get().account_id
    patch = PatchVersion.objects.get(is_latest=True, package_version__package__name="MY_CAMERA")
    override = json.loads((SAMPLE / "graphs/my-app/override.json").read_text())
    graph = json.loads((SAMPLE / "graphs/my-app/graph.json").read_text())
    text = json.dumps(override).replace("123456789012::MY_CAMERA", f"{account}::MY_CAMERA")
    errors = validate_override(
        text, graph=graph, packages={f"{account}::MY_CAMERA": patch.manifest_text}
    )
    assert errors == []


@pytest.mark.django_db
def test_changes_make_a_new_latest_patch_and_saving_unchanged_does_not(camera, operator_client):
    def patches():
        return PatchVersion.objects.filter(package_version__package__name="MY_CAMERA")

    first = patches().get()
    operator_client.patch(
        f"/api/datasources/{camera.pk}/", {"description": "same"}, content_type="application/json"
    )
    operator_client.patch(
        f"/api/datasources/{camera.pk}/", {"description": "same"}, content_type="application/json"
    )
    assert patches().count() == 2
    latest = patches().get(is_latest=True)
    assert latest != first and "same" in latest.manifest_text


@pytest.mark.django_db
def test_deleting_the_camera_deletes_its_package(camera, operator_client):
    assert operator_client.delete(f"/api/datasources/{camera.pk}/").status_code == 204
    assert not NodePackage.objects.filter(name="MY_CAMERA").exists()
    page_camera = operator_client.post(
        "/datasources/add/", {"name": "gate", "url": "rtsp://10.0.0.9/s"}
    )
    assert page_camera.status_code == 302
    assert NodePackage.objects.filter(name="gate").exists()
    source = DataSource.objects.get(name="gate")
    operator_client.post(f"/datasources/{source.pk}/delete/")
    assert not NodePackage.objects.filter(name="gate").exists()


@pytest.mark.django_db
def test_packages_page_lists_the_camera_package(camera, viewer_client):
    page = viewer_client.get("/packages/").content.decode()
    account = Installation.get().account_id
    patch = PatchVersion.objects.get(is_latest=True)
    assert f"{account}::MY_CAMERA" in page
    assert patch.patch[:12] in page
    assert 'data-status="REGISTER_COMPLETED"' in page
