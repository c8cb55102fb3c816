"""The devices API: ProvisionDevice, archives, description and tags, delete, jobs, software."""

from __future__ import annotations

import base64

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from core.status import UpdateProgress
from devicelink.archive import read_archive
from devicelink.releases import build_bundle
from devices import keys
from devices.models import DeletedDevice, Device, DeviceJob, ProvisioningCredential, hash_token
from tests.support.devices import NETWORK_STATUS, image, make_device, online_device

pytestmark = pytest.mark.django_db

STATIC = {
    "Ethernet0": {
        "ConnectionType": "STATIC_IP",
        "StaticIpConnectionInfo": {
            "IpAddress": "10.0.0.20", "Mask": "255.255.255.0",
            "DefaultGateway": "10.0.0.1", "Dns": ["10.0.0.2"],
        },
    },
    "Ntp": {"NtpServers": ["time.example"]},
}  # fmt: skip


def create(client, **body):
    return client.post("/api/devices/", body, content_type="application/json")


def test_administrator_provisions_a_device_and_gets_its_archive(admin_client):
    response = create(
        admin_client, name="lobby-1", description="Main entrance",
        tags={"site": "lobby"}, networking=STATIC,
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    data = response.json()
    device = Device.objects.get(name="lobby-1")
    assert data["device_id"] == device.device_id
    assert data["provisioning_status"] == "AWAITING_PROVISIONING"
    assert data["tags"] == {"site": "lobby"}
    assert data["archive_name"] == "certificates-omni_lobby-1.zip"
    config, _ca = read_archive(base64.b64decode(data["certificates"]))
    assert config.device_id == device.device_id
    assert config.network.Ethernet0.StaticIpConnectionInfo.IpAddress == "10.0.0.20"
    credential = ProvisioningCredential.objects.get(device=device)
    assert credential.token_hash == hash_token(config.provisioning_token)
    assert data["credential_id"] == credential.credential_id
    assert device.network_config["Ntp"]["NtpServers"] == ["time.example"]


def test_create_checks_name_tags_network_and_quota(admin_client, settings):
    make_device(name="taken")
    assert "exists already" in create(admin_client, name="taken").json()["name"][0]
    assert "Use only letters" in create(admin_client, name="bad name").json()["name"][0]
    errors = create(admin_client, name="t", tags={"bad!": "x"}).json()["tags"]
    assert "Tag key 'bad!'" in errors[0]
    bad_network = {"Ethernet0": {"ConnectionType": "STATIC_IP", "StaticIpConnectionInfo": {
        "IpAddress": "10.0.0.20", "Mask": "255.255.255.0", "DefaultGateway": "10.9.9.9",
        "Dns": ["10.0.0.2"]}}}  # fmt: skip
    errors = create(admin_client, name="t", networking=bad_network).json()["networking"]
    assert "The default gateway 10.9.9.9 is outside the subnet 10.0.0.0/24." in errors[0]
    settings.DEVICE_QUOTA = 1
    response = create(admin_client, name="second")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "You have 1 devices, the most this installation allows (DEVICE_QUOTA). "
        "Delete one or raise the quota."
    }
    assert not Device.objects.filter(name="second").exists()


def test_a_new_archive_through_the_api(admin_client):
    device = make_device(name="gate-1")
    first = admin_client.post(f"/api/devices/{device.device_id}/archive/").json()
    second = admin_client.post(f"/api/devices/{device.device_id}/archive/").json()
    assert first["credential_id"] != second["credential_id"]
    old = ProvisioningCredential.objects.get(credential_id=first["credential_id"])
    assert old.superseded_at is not None


def test_device_fields_never_hold_credentials(viewer_client, admin_client):
    device = online_device(
        network_status=NETWORK_STATUS, health={"cpu_percent": 12.0}, tags={"site": "lobby"}
    )
    image("1.1.0")
    ProvisioningCredential.objects.create(
        device=device, token_hash="f" * 64, expires_at=device.created
    )
    data = viewer_client.get(f"/api/devices/{device.device_id}/").json()
    for field in ("tags", "serial_number", "current_software", "latest_software", "network_status",
                  "health", "lease_expires_at", "last_heartbeat_at", "networking"):  # fmt: skip
        assert field in data, field
    assert data["latest_software"] == "1.1.0"
    assert data["network_status"]["Ethernet0Status"]["IpAddress"] == "192.168.0.10/24"
    body = str(viewer_client.get("/api/devices/").json())
    assert device.public_key not in body and "f" * 64 not in body
    assert "public_key" not in data and "token_hash" not in body


def test_patch_description_and_tags_not_the_name(admin_client, operator_client):
    device = online_device(tags={"site": "lobby"})
    url = f"/api/devices/{device.device_id}/"
    body = {"description": "Back door", "tags": {"site": "garage"}}
    assert operator_client.patch(url, body, content_type="application/json").status_code == 403
    response = admin_client.patch(url, body, content_type="application/json")
    assert response.status_code == 200
    assert (response.json()["description"], response.json()["tags"]) == (
        "Back door",
        {"site": "garage"},
    )
    response = admin_client.patch(url, {"name": "other"}, content_type="application/json")
    assert response.status_code == 400 and "cannot change" in response.json()["name"][0]
    assert admin_client.put(url, body, content_type="application/json").status_code == 405


def test_delete_through_the_api(admin_client, operator_client, monkeypatch):
    monkeypatch.setattr("devices.desired.send_to_link", lambda group, message: None)
    device = online_device()
    url = f"/api/devices/{device.device_id}/"
    assert operator_client.delete(url).status_code == 403
    assert admin_client.delete(url).status_code == 204
    assert DeletedDevice.objects.filter(device_id=device.device_id).exists()
    assert admin_client.get(url).status_code == 404


def test_viewers_cannot_write(viewer_client):
    device = online_device()
    assert create(viewer_client, name="x").status_code == 403
    assert viewer_client.post(f"/api/devices/{device.device_id}/archive/").status_code == 403
    assert viewer_client.post(
        "/api/device-jobs/", {"device_ids": [device.device_id], "job_type": "REBOOT"},
        content_type="application/json",
    ).status_code == 403  # fmt: skip
    assert viewer_client.post("/api/software-images/", {}).status_code == 403
    assert not DeviceJob.objects.exists()


def test_operators_create_jobs_and_read_them_with_events(operator_client):
    a, b = online_device("north-1"), online_device("north-2")
    response = operator_client.post(
        "/api/device-jobs/", {"device_ids": [a.device_id, b.device_id], "job_type": "REBOOT"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    jobs = response.json()
    assert sorted(job["job_id"] for job in jobs) == sorted([f"{a.device_id}-1", f"{b.device_id}-1"])
    assert jobs[0]["events"][0]["status"] == "PENDING"
    DeviceJob.objects.filter(device=a).update(status=UpdateProgress.COMPLETED)
    listed = operator_client.get(f"/api/device-jobs/?device={a.device_id}").json()["results"]
    assert [job["status"] for job in listed] == ["COMPLETED"]
    job = operator_client.get(f"/api/device-jobs/{a.device_id}-1/").json()
    assert job["device_name"] == "north-1"


def test_job_refusals_name_the_devices(operator_client):
    ready = online_device("north-1", current_software="2.0.0")
    new = make_device(name="south-1")
    image("1.0.0")
    response = operator_client.post(
        "/api/device-jobs/",
        {"device_ids": [ready.device_id, new.device_id], "job_type": "OTA",
         "image_version": "1.0.0"},
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["detail"] == [
        "north-1: Version 1.0.0 is older than the installed 2.0.0; downgrades are refused.",
        "south-1 is not provisioned (Awaiting provisioning); set it up first.",
    ]
    response = operator_client.post(
        "/api/device-jobs/", {"device_ids": ["device-nope"], "job_type": "REBOOT"},
        content_type="application/json",
    )  # fmt: skip
    assert response.json()["device_ids"] == ["No such device: device-nope."]


def test_software_images_upload_list_delete(admin_client, operator_client, asset_store):
    bundle = build_bundle(settings.BASE_DIR, "9.1.0")
    upload = {"file": SimpleUploadedFile("b.tar.gz", bundle), "notes": "n", "required": "true"}
    assert operator_client.post("/api/software-images/", upload).status_code == 403
    upload["file"].seek(0)
    response = admin_client.post("/api/software-images/", upload)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["version"], data["required"], data["size"]) == ("9.1.0", True, len(bundle))
    assert data["signature"]
    assert operator_client.get("/api/software-images/9.1.0/").json()["sha256"] == data["sha256"]
    response = admin_client.post(
        "/api/software-images/", {"file": SimpleUploadedFile("x.tar.gz", b"nope")}
    )
    assert response.status_code == 400 and "gzip'd tar" in response.json()["file"][0]
    assert admin_client.delete("/api/software-images/9.1.0/").status_code == 204
    assert keys.release_public_key() not in str(data)


def test_schema_documents_the_new_endpoints(viewer_client):
    schema = viewer_client.get("/api/schema/?format=json").json()
    for path in ("/api/devices/", "/api/devices/{device_id}/archive/", "/api/device-jobs/",
                 "/api/software-images/"):  # fmt: skip
        assert path in schema["paths"], path
