"""The appliance-facing HTTP endpoints: provisioning and signed requests."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from devicelink import auth
from devices.models import DeletedDevice, Device, DeviceLog
from tests.support.devices import make_device, new_credential, provision_body, provisioned_device

pytestmark = pytest.mark.django_db


def post_provision(client, body: dict):
    return client.post("/agent/v1/provision", json.dumps(body), content_type="application/json")


def test_a_valid_archive_provisions_the_device_once(client):
    device = make_device(name="lobby-1")
    credential, token = new_credential(device)
    key = auth.generate_private_key()
    response = post_provision(client, provision_body(device, credential, token, key))
    assert response.status_code == 200, response.content
    assert response.json()["device_id"] == device.device_id
    device.refresh_from_db()
    assert device.provisioning_status == "PENDING"
    assert device.public_key == auth.public_key_b64(key)
    assert device.serial_number == "123456789012"
    assert device.current_software == "1.0.0"
    assert device.network_status["Ethernet0Status"]["IpAddress"] == "192.168.0.10/24"
    credential.refresh_from_db()
    assert credential.used_at is not None
    # The token itself is stored nowhere.
    assert token not in json.dumps(list(Device.objects.values()), default=str)

    again = post_provision(client, provision_body(device, credential, token, key))
    assert again.status_code == 403
    assert "already used" in again.json()["error"]


def test_an_expired_archive_is_refused_with_the_time_it_expired(client):
    device = make_device(name="lobby-1")
    credential, token = new_credential(device, ttl_s=-1)
    response = post_provision(
        client, provision_body(device, credential, token, auth.generate_private_key())
    )
    assert response.status_code == 403
    assert "expired at" in response.json()["error"]
    assert "Download a new archive" in response.json()["error"]
    device.refresh_from_db()
    assert device.provisioning_status == "AWAITING_PROVISIONING"
    assert not device.public_key
    # The console says so too, on the device's log.
    log = DeviceLog.objects.get(device=device)
    assert log.level == "WARNING" and "expired at" in log.message


def test_a_superseded_archive_and_a_wrong_token_are_refused(client):
    device = make_device(name="lobby-1")
    old, old_token = new_credential(device)
    old.superseded_at = timezone.now()
    old.save()
    key = auth.generate_private_key()
    response = post_provision(client, provision_body(device, old, old_token, key))
    assert response.status_code == 403
    assert "replaced by a newer one" in response.json()["error"]

    credential, _ = new_credential(device)
    response = post_provision(client, provision_body(device, credential, "x" * 43, key))
    assert response.status_code == 401
    assert "token is wrong" in response.json()["error"]


def test_the_proof_must_come_from_the_key_being_registered(client):
    device = make_device(name="lobby-1")
    credential, token = new_credential(device)
    body = provision_body(device, credential, token, auth.generate_private_key())
    body["public_key"] = auth.public_key_b64(auth.generate_private_key())
    response = post_provision(client, body)
    assert response.status_code == 401
    assert "proof" in response.json()["error"]
    credential.refresh_from_db()
    assert credential.used_at is None


def test_malformed_requests_say_which_field(client):
    response = post_provision(client, {"device_id": "nope"})
    assert response.status_code == 400
    assert "device_id" in response.json()["error"]
    response = client.post("/agent/v1/provision", "{", content_type="application/json")
    assert response.status_code == 400


def test_a_deleted_device_is_refused_with_a_reason(client):
    key = auth.generate_private_key()
    tombstone = DeletedDevice.objects.create(device_id="device-" + "a" * 26, name="gone")
    header = auth.sign_request(key, tombstone.device_id, "GET", "/agent/v1/software/1.0.0")
    response = client.get("/agent/v1/software/1.0.0", HTTP_AUTHORIZATION=header)
    assert response.status_code == 403
    assert "was deleted from the console" in response.json()["error"]
    assert "reset --full" in response.json()["error"]


def test_signed_requests_are_checked(client):
    device, key = provisioned_device()
    path = "/agent/v1/software/9.9.9"
    assert client.get(path).status_code == 401
    header = auth.sign_request(key, device.device_id, "GET", path)
    assert client.get(path, HTTP_AUTHORIZATION=header).status_code == 404  # signed; no such image
    replay = client.get(path, HTTP_AUTHORIZATION=header)
    assert replay.status_code == 401
    assert "replayed" in replay.json()["error"]
    other = auth.sign_request(auth.generate_private_key(), device.device_id, "GET", path)
    assert client.get(path, HTTP_AUTHORIZATION=other).status_code == 401
    stale = auth.sign_request(key, device.device_id, "GET", path, now=1_000_000)
    response = client.get(path, HTTP_AUTHORIZATION=stale)
    assert response.status_code == 401
    assert "NTP" in response.json()["error"]
    wrong_path = auth.sign_request(key, device.device_id, "GET", "/agent/v1/software/1.0.0")
    assert client.get(path, HTTP_AUTHORIZATION=wrong_path).status_code == 401
