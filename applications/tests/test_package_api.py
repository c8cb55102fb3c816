"""Packages and assets through the REST API."""

from __future__ import annotations

import hashlib
import json

import pytest

from applications.models import Asset
from tests.support.deploy import CODE_PACKAGE


@pytest.mark.django_db
def test_register_and_read_back(operator_client, viewer_client, settings, tmp_path):
    manifest = CODE_PACKAGE.read_text()
    body = {"name": "SAMPLE_CODE", "version": "1.0", "manifest": manifest}
    created = operator_client.post("/api/packages/register/", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["patch"] == hashlib.sha256(manifest.encode()).hexdigest()
    again = operator_client.post("/api/packages/register/", body, content_type="application/json")
    assert again.status_code == 200
    listed = viewer_client.get("/api/packages/").json()["results"]
    assert [p["name"] for p in listed] == ["SAMPLE_CODE"]
    interfaces = listed[0]["patches"][0]["interfaces"]
    assert interfaces[0]["name"] == "interface" and interfaces[0]["category"] == "BUSINESS_LOGIC"


@pytest.mark.django_db
def test_register_reports_every_error_with_its_place(operator_client):
    document = json.loads(CODE_PACKAGE.read_text())
    del document["nodePackage"]["interfaces"][0]["category"]
    document["nodePackage"]["interfaces"][0]["inputs"][0]["type"] = "video"
    response = operator_client.post(
        "/api/packages/register/",
        {"name": "SAMPLE_CODE", "version": "1.0", "manifest": json.dumps(document)},
        content_type="application/json",
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {e["path"] for e in errors} >= {
        "/nodePackage/interfaces/0/category",
        "/nodePackage/interfaces/0/inputs/0/type",
    }
    assert all(e["message"] and "hint" in e for e in errors)


@pytest.mark.django_db
def test_asset_upload_is_verified_deduplicated_and_downloadable(operator_client, asset_store):
    data = b"\x1f\x8b container bytes" * 5000
    sha = hashlib.sha256(data).hexdigest()
    url = f"/api/assets/{sha}/?filename=code.tar.gz"
    first = operator_client.put(url, data, content_type="application/octet-stream")
    assert first.status_code == 201, first.content
    assert (
        operator_client.put(url, data, content_type="application/octet-stream").status_code == 200
    )
    download = operator_client.get(f"/api/assets/{sha}/")
    assert b"".join(download.streaming_content) == data
    tampered = operator_client.put(url, data + b"!", content_type="application/octet-stream")
    assert tampered.status_code == 400
    assert "code.tar.gz" in tampered.json()["detail"]
    assert tampered.json()["actual"] == hashlib.sha256(data + b"!").hexdigest()
    assert Asset.objects.count() == 1
    assert operator_client.put("/api/assets/nothex/", data).status_code == 400
    assert operator_client.head(f"/api/assets/{sha}/").status_code == 200
    asset_store.delete(Asset.objects.get().storage_name)
    assert operator_client.head(f"/api/assets/{sha}/").status_code == 404


@pytest.mark.django_db
def test_deregister_a_patch(operator_client, viewer_client):
    manifest = CODE_PACKAGE.read_text()
    registered = operator_client.post(
        "/api/packages/register/",
        {"name": "SAMPLE_CODE", "version": "1.0", "manifest": manifest},
        content_type="application/json",
    ).json()
    package_id = viewer_client.get("/api/packages/").json()["results"][0]["id"]
    body = {"version": "1.0", "patch": registered["patch"]}
    url = f"/api/packages/{package_id}/deregister/"
    assert viewer_client.post(url, body, content_type="application/json").status_code == 403
    assert operator_client.post(url, body, content_type="application/json").status_code == 204
    assert operator_client.post(url, body, content_type="application/json").status_code == 404
    assert viewer_client.get("/api/packages/").json()["results"][0]["patches"] == []


@pytest.mark.django_db
def test_package_page_shows_patches_nodes_and_deregisters(operator_client, viewer_client):
    manifest = CODE_PACKAGE.read_text()
    patch = operator_client.post(
        "/api/packages/register/",
        {"name": "SAMPLE_CODE", "version": "1.0", "manifest": manifest},
        content_type="application/json",
    ).json()
    package_id = viewer_client.get("/api/packages/").json()["results"][0]["id"]
    page = viewer_client.get(f"/packages/{package_id}/").content.decode()
    assert patch["patch"][:12] in page
    assert "::SAMPLE_CODE.interface" in page and "video_in" in page
    assert "no application instance" in page
    assert "Deregister" not in page  # viewers get no button
    patch_pk = patch["id"]
    url = f"/packages/{package_id}/patches/{patch_pk}/deregister/"
    assert viewer_client.post(url).status_code == 403
    assert operator_client.post(url).status_code == 302
    assert (
        "no registered patch versions"
        in viewer_client.get(f"/packages/{package_id}/").content.decode()
    )


@pytest.mark.django_db
def test_delete_a_package(operator_client, viewer_client):
    operator_client.post(
        "/api/packages/register/",
        {"name": "SAMPLE_CODE", "version": "1.0", "manifest": CODE_PACKAGE.read_text()},
        content_type="application/json",
    )
    package_id = viewer_client.get("/api/packages/").json()["results"][0]["id"]
    assert viewer_client.delete(f"/api/packages/{package_id}/").status_code == 403
    assert operator_client.delete(f"/api/packages/{package_id}/").status_code == 204
    assert viewer_client.get("/api/packages/").json()["results"] == []


@pytest.mark.django_db
def test_nodes_are_listed_as_panorama_names_them(operator_client, viewer_client):
    patch = operator_client.post(
        "/api/packages/register/",
        {"name": "SAMPLE_CODE", "version": "1.0", "manifest": CODE_PACKAGE.read_text()},
        content_type="application/json",
    ).json()["patch"]
    nodes = viewer_client.get("/api/nodes/?category=BUSINESS_LOGIC&latest=true").json()["results"]
    assert [n["node_id"] for n in nodes] == [f"SAMPLE_CODE-1.0-{patch[:8]}-interface"]
    assert viewer_client.get("/api/nodes/?category=ML_MODEL").json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "version"), [("a b", "1.0"), ("SAMPLE_CODE", "latest")])
def test_register_checks_name_and_version(operator_client, name, version):
    document = json.loads(CODE_PACKAGE.read_text())
    del document["nodePackage"]["name"], document["nodePackage"]["version"]
    response = operator_client.post(
        "/api/packages/register/",
        {"name": name, "version": version, "manifest": json.dumps(document)},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"name" if name == "a b" else "version"}
