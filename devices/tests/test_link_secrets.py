"""Secrets on the device link: sealed to the device's key, withheld from untrusted links, and
signed logins that cannot be replayed even when the cache is lost (docs/security.md)."""

from __future__ import annotations

import json
import time

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache

from core.sharedcache import shared_cache
from devicelink import LINK_PATH, auth, sealing
from devicelink.apps import ApplicationSpec
from devices import secrets
from devices.models import Device, LinkTransport
from tests.support.devices import provisioned_device
from tests.support.link import connect, hello, upgrade_answer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.in_process_asgi]


def vouched(device: Device, key, seal_key) -> dict[str, str]:
    public = sealing.public_b64(seal_key)
    return {
        "seal_key": public,
        "seal_key_sig": sealing.sign_seal_key(key, device.device_id, public),
    }


def say_hello(device: Device, key, *, client="127.0.0.1", scheme="ws", seal=None, applied=0):
    async def scenario():
        communicator, connected, code = await connect(device, key, client=client, scheme=scheme)
        assert connected, code
        welcome = await hello(communicator, applied=applied, seal=seal)
        await communicator.disconnect()
        return welcome

    return async_to_sync(scenario)()


def test_where_a_link_comes_from_decides_how_its_secrets_travel():
    assert secrets.transport_for("wss", "10.0.0.5") == LinkTransport.TLS
    assert secrets.transport_for("ws", "127.0.0.1") == LinkTransport.LOOPBACK
    assert secrets.transport_for("ws", "::1") == LinkTransport.LOOPBACK
    assert secrets.transport_for("ws", "10.0.0.5") == LinkTransport.PLAIN
    assert secrets.transport_for("ws", None) == LinkTransport.PLAIN

    def delivery(**fields) -> str:
        return secrets.delivery(Device(**fields))

    key = sealing.public_b64(sealing.generate_seal_key())
    assert delivery(seal_key=key, link_transport="loopback") == "sealed"
    assert delivery(seal_key=key, link_transport="tls") == "sealed"
    assert delivery(seal_key=key, link_transport="plain") == "withheld"
    assert delivery(seal_key=key, link_transport="plain", allow_plain_link_secrets=True) == (
        "sealed"
    )
    # An agent that cannot open sealed values: in clear only where nobody can read the link.
    assert delivery(link_transport="tls") == "clear"
    assert delivery(link_transport="loopback") == "clear"
    assert delivery(link_transport="plain") == "withheld"
    assert delivery(link_transport="") == "withheld"


def test_a_spec_is_sealed_so_only_the_device_opens_it():
    seal_key = sealing.generate_seal_key()
    device = Device(
        device_id="device-" + "b" * 26,
        seal_key=sealing.public_b64(seal_key),
        link_transport="loopback",
    )
    spec = ApplicationSpec.model_validate(
        {
            "application_instance_id": "applicationInstance-x",
            "name": "app",
            "generation": 1,
            "environment": {"AWS_SECRET_ACCESS_KEY": "Role-secret-1"},
            "nodes": [
                {
                    "name": "cam",
                    "kind": "camera",
                    "stream": {"url": "rtsp://cam/1", "username": "u", "password": "Cam-pw-1"},
                }
            ],
        }
    )
    assert secrets.prepare_spec(device, spec) == "sealed"
    sent = spec.model_dump_json()
    assert "Role-secret-1" not in sent and "Cam-pw-1" not in sent
    assert "rtsp://cam/1" in sent

    with pytest.raises(sealing.SealError, match="sealed to another key"):
        sealing.open_spec(sealing.generate_seal_key(), device.device_id, spec.model_copy(deep=True))
    with pytest.raises(sealing.SealError):
        sealing.open_spec(seal_key, "device-" + "c" * 26, spec.model_copy(deep=True))
    sealing.open_spec(seal_key, device.device_id, spec)
    assert spec.environment == {"AWS_SECRET_ACCESS_KEY": "Role-secret-1"}
    assert spec.nodes[0].stream is not None
    assert (spec.nodes[0].stream.username, spec.nodes[0].stream.password) == ("u", "Cam-pw-1")

    device.link_transport = "plain"
    spec.nodes[0].stream.sealed = ""
    assert secrets.prepare_spec(device, spec) == "withheld"
    assert "Cam-pw-1" not in spec.model_dump_json() and spec.environment == {}


def test_the_hello_vouches_for_its_seal_key_and_a_swapped_key_is_refused():
    device, key = provisioned_device()
    seal_key = sealing.generate_seal_key()
    say_hello(device, key, seal=vouched(device, key, seal_key))
    device.refresh_from_db()
    assert device.seal_key == sealing.public_b64(seal_key)
    assert (device.link_transport, device.link_address) == ("loopback", "127.0.0.1")

    # Someone on the path puts their own key in, signed with another identity.
    swapped = vouched(device, auth.generate_private_key(), sealing.generate_seal_key())
    say_hello(device, key, seal=swapped)
    device.refresh_from_db()
    assert device.seal_key == ""


def test_a_plain_link_from_elsewhere_gets_no_secret_until_an_administrator_allows_it(
    admin_client,
):
    device, key = provisioned_device()
    say_hello(
        device, key, client="10.20.30.40", seal=vouched(device, key, sealing.generate_seal_key())
    )
    device.refresh_from_db()
    assert device.link_transport == "plain"
    page = admin_client.get(f"/devices/{device.device_id}/").content.decode()
    assert "Camera passwords and runtime roles are withheld" in page
    assert "connects from 10.20.30.40 over unencrypted ws://" in page

    before = device.desired_version
    response = admin_client.post(
        f"/devices/{device.device_id}/edit/",
        {"description": "", "tags": "", "allow_plain_link_secrets": "on"},
    )
    assert response.status_code == 302
    device.refresh_from_db()
    assert secrets.delivery(device) == "sealed"
    assert device.desired_version == before + 1  # sent again, with its secrets this time
    page = admin_client.get(f"/devices/{device.device_id}/").content.decode()
    assert "are withheld" not in page


def test_the_desired_state_goes_again_when_the_seal_key_changes():
    device, key = provisioned_device()
    Device.objects.filter(pk=device.pk).update(desired_version=3, applied_version=3)
    say_hello(device, key, applied=3)  # an agent that cannot open sealed values yet
    device.refresh_from_db()
    assert device.desired_version == 3
    say_hello(device, key, seal=vouched(device, key, sealing.generate_seal_key()), applied=3)
    device.refresh_from_db()
    assert device.desired_version == 4
    # The same key again: nothing to resend.
    sealed_to = device.seal_key
    say_hello(device, key, seal={"seal_key": sealed_to, "seal_key_sig": sealing.sign_seal_key(
        key, device.device_id, sealed_to)}, applied=4)  # fmt: skip
    device.refresh_from_db()
    assert device.desired_version == 4


def test_a_signed_request_stays_refused_after_the_cache_is_lost(client):
    device, key = provisioned_device()
    path = "/agent/v1/software/9.9.9"
    header = auth.sign_request(key, device.device_id, "GET", path)
    assert client.get(path, HTTP_AUTHORIZATION=header).status_code == 404  # signed; no image
    shared_cache().clear()
    cache.clear()
    replay = client.get(path, HTTP_AUTHORIZATION=header)
    assert replay.status_code == 401
    assert "replayed" in replay.json()["error"]


def test_the_link_login_allows_less_clock_skew_than_other_requests(client):
    device, key = provisioned_device()
    then = time.time() - 2 * auth.LINK_MAX_SKEW_S
    path = "/agent/v1/software/9.9.9"
    late = auth.sign_request(key, device.device_id, "GET", path, now=then)
    assert client.get(path, HTTP_AUTHORIZATION=late).status_code == 404  # within MAX_SKEW_S
    link_login = auth.sign_request(key, device.device_id, "GET", LINK_PATH, now=then)
    start, body = async_to_sync(upgrade_answer)(link_login)
    assert start["status"] == 401
    assert f"at most {auth.LINK_MAX_SKEW_S} s" in json.loads(body["body"])["error"]


def test_nonces_are_forgotten_once_their_time_could_not_pass_the_clock_check(client):
    from devices.agent_auth import forget_old_nonces
    from devices.models import UsedNonce
    from devices.tasks import expire_device_leases

    device, key = provisioned_device()
    path = "/agent/v1/software/9.9.9"
    header = auth.sign_request(key, device.device_id, "GET", path)
    client.get(path, HTTP_AUTHORIZATION=header)
    UsedNonce.objects.create(device=device, nonce="b" * 32, ts=int(time.time()) - 3600)
    expire_device_leases()  # beat's sweep
    assert not UsedNonce.objects.filter(nonce="b" * 32).exists()
    assert UsedNonce.objects.count() == 1  # the recent one stays: its replay is refused
    assert client.get(path, HTTP_AUTHORIZATION=header).status_code == 401
    later = time.time() + 2 * auth.MAX_SKEW_S + 1
    assert forget_old_nonces(later) == 1
