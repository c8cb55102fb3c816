"""Stream checks run on an appliance: choosing where, refusals, what is sent, and time-outs.

The link consumer's part (sending ``check_stream``, storing the report) is tested in
test_appliance_check_link.py; a real agent against a real camera in
tests/e2e/test_appliance_stream_check.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.utils import timezone

from core import crypto, live
from core.status import NodeFromTemplateJobStatus
from datasources import checks, results, tasks
from datasources.appliance import claim_for_link
from datasources.models import DataSource, StreamCheck
from devicelink import sealing
from devices.ingest import expire_leases
from devices.models import Device
from tests.support.devices import make_device

pytestmark = pytest.mark.django_db
PASSWORD = "Cam-secret-4410"
FAILED = NodeFromTemplateJobStatus.FAILED
PENDING = NodeFromTemplateJobStatus.PENDING


@pytest.fixture
def camera() -> DataSource:
    source = DataSource(name="gate", url="rtsp://10.1.2.3:554/stream1")
    source.set_credentials("cam", PASSWORD)
    source.save()
    return source


def appliance(name: str = "lobby-1", *, connection: str = "ONLINE", provisioned: bool = True):
    return make_device(
        name=name,
        provisioning_status="SUCCEEDED" if provisioned else "AWAITING_PROVISIONING",
        connection_status=connection,
        lease_expires_at=timezone.now() + timedelta(seconds=30),
        link_session="session-1",
        link_transport="loopback",  # an agent without a seal key, on this machine: in clear
    )


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, dict]]:
    """What start_check hands to the channel layer for a device's link."""
    messages: list[tuple[str, dict]] = []
    monkeypatch.setattr(checks, "send_to_link", lambda group, m: messages.append((group, m)))
    return messages


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Checks queued for the worker (the console host)."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.run_stream_check, "delay", ids.append)
    return ids


def check_api(client: Client, source: DataSource, body: dict | None = None):
    return client.post(
        f"/api/datasources/{source.pk}/check/", body or {}, content_type="application/json"
    )


def test_the_api_runs_a_check_on_an_online_appliance_and_sends_only_its_id(
    camera, operator_client, sent, queued, django_capture_on_commit_callbacks
):
    device = appliance()
    with django_capture_on_commit_callbacks(execute=True):
        response = check_api(operator_client, camera, {"device_id": device.device_id})
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["status"] == PENDING and answer["ran_on"] == "appliance"
    assert (answer["device_id"], answer["device_name"]) == (device.device_id, "lobby-1")
    assert answer["tested_from"] == "Tested from lobby-1"
    check = StreamCheck.objects.get(pk=answer["id"])
    assert check.device == device
    # The channel layer (Redis in production) sees the check's id, never the credentials.
    assert sent == [
        (f"link-{device.device_id}", {"type": "link.check_stream", "check_id": check.pk})
    ]
    assert queued == []  # not the console's worker
    assert PASSWORD not in response.content.decode()
    # The list shows where it runs.
    assert "Tested from lobby-1" in operator_client.get("/datasources/").content.decode()


def test_without_a_device_the_check_runs_on_the_console(
    camera, operator_client, sent, queued, django_capture_on_commit_callbacks
):
    for body in (None, {"device_id": ""}, {"device_id": None}):
        StreamCheck.objects.all().delete()
        with django_capture_on_commit_callbacks(execute=True):
            response = check_api(operator_client, camera, body)
        assert response.status_code == 202, response.content
        answer = response.json()
        assert answer["ran_on"] == "console" and answer["device_id"] is None
        assert answer["tested_from"] == "Tested from the console"
        assert queued[-1] == answer["id"]
    assert sent == []


@pytest.mark.parametrize(
    ("connection", "provisioned", "state"),
    [("OFFLINE", True, "offline"), ("ONLINE", False, "not set up"),
     ("NOT_AVAILABLE", True, "not available")],
)  # fmt: skip
def test_an_appliance_that_is_not_online_is_refused_by_name(
    camera, operator_client, sent, queued, connection, provisioned, state
):
    device = appliance("yard-7", connection=connection, provisioned=provisioned)
    response = check_api(operator_client, camera, {"device_id": device.device_id})
    assert response.status_code == 400
    assert response.json() == {
        "device_id": [
            f"The appliance yard-7 is not online ({state}); test from an online appliance or "
            "from this console."
        ]
    }
    assert not StreamCheck.objects.exists() and sent == [] and queued == []


def test_unknown_and_malformed_devices_are_refused(camera, operator_client, viewer_client):
    response = check_api(operator_client, camera, {"device_id": "device-nosuchthing"})
    assert response.status_code == 400
    assert response.json()["device_id"] == ["There is no appliance with the ID device-nosuchthing."]
    response = check_api(operator_client, camera, {"device_id": "x" * 41})
    assert response.status_code == 400 and "device_id" in response.json()
    assert check_api(viewer_client, camera, {"device_id": appliance().device_id}).status_code == 403
    assert not StreamCheck.objects.exists()


def test_one_test_at_a_time_per_stream(camera, operator_client, sent, queued):
    device = appliance()
    first = check_api(operator_client, camera, {"device_id": device.device_id}).json()
    # The same again: the pending check, not a second probe.
    assert check_api(operator_client, camera, {"device_id": device.device_id}).json() == first
    response = check_api(operator_client, camera)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A test of gate from lobby-1 is still running; test again when its result is in."
    }
    assert StreamCheck.objects.count() == 1


def test_the_page_offers_online_appliances_and_explains_a_refusal(
    camera, operator_client, viewer_client, sent
):
    online, offline = appliance("lobby-1"), appliance("attic-2", connection="OFFLINE")
    page = operator_client.get("/datasources/").content.decode()
    assert "This console</option>" in page
    assert f'<option value="{online.device_id}">lobby-1</option>' in page
    assert offline.device_id not in page
    assert "This console" not in viewer_client.get("/datasources/").content.decode()

    url = f"/datasources/{camera.pk}/check/"
    response = operator_client.post(url, {"device_id": offline.device_id}, follow=True)
    assert "The appliance attic-2 is not online (offline)" in response.content.decode()
    response = operator_client.post(url, {"device_id": offline.device_id}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == "/datasources/"
    assert not StreamCheck.objects.exists()

    response = operator_client.post(url, {"device_id": online.device_id}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert camera.checks.get().device == online
    response = operator_client.post(url, {"device_id": online.device_id}, follow=True)
    assert "Checking gate from lobby-1…" in response.content.decode()


def _pending(source: DataSource, device: Device | None, age_s: float) -> StreamCheck:
    check = StreamCheck.objects.create(
        data_source=source, device=device, ran_on="appliance" if device else "console"
    )
    StreamCheck.objects.filter(pk=check.pk).update(
        requested=timezone.now() - timedelta(seconds=age_s)
    )
    return check


def test_checks_the_appliance_never_answers_fail_after_the_wait(camera, settings, monkeypatch):
    settings.STREAM_CHECK_APPLIANCE_WAIT_S = 20
    announced: list[StreamCheck] = []
    monkeypatch.setattr(results, "broadcast_check", lambda source, check: announced.append(check))
    device = appliance()
    others = [DataSource.objects.create(name=f"cam{i}", url=f"rtsp://10.0.0.{i}/s") for i in (1, 2)]
    overdue = _pending(camera, device, age_s=21)
    fresh = _pending(others[0], device, age_s=5)
    on_console = _pending(others[1], None, age_s=3600)  # the worker's business, not this

    expire_leases()  # beat runs it every few seconds
    overdue.refresh_from_db()
    assert overdue.status == FAILED and overdue.finished is not None
    assert overdue.message == "The appliance lobby-1 did not answer within 20 s."
    assert "runs agent software that can test streams" in overdue.hint
    assert [check.pk for check in announced] == [overdue.pk]  # the row updates live
    for check in (fresh, on_console):
        check.refresh_from_db()
        assert check.status == PENDING


def test_checks_of_an_appliance_that_goes_offline_or_is_deleted_fail(camera):
    expiring, doomed = appliance("lobby-1"), appliance("doomed-3")
    Device.objects.filter(pk=expiring.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    second = DataSource.objects.create(name="yard", url="rtsp://10.0.0.9/s")
    went_offline = _pending(camera, expiring, age_s=1)
    deleted = _pending(second, doomed, age_s=1)
    doomed.delete()

    assert expire_leases() == [expiring.device_id]
    went_offline.refresh_from_db()
    deleted.refresh_from_db()
    assert went_offline.message == "The appliance lobby-1 went offline before it answered."
    assert deleted.message == "The appliance was deleted before it answered."
    assert deleted.tested_from == "Tested from a deleted appliance"
    assert went_offline.status == deleted.status == FAILED


def test_a_finished_check_is_not_sent_and_a_replaced_connection_sends_nothing(camera):
    device = appliance()
    check = _pending(camera, device, age_s=0)
    assert claim_for_link(device.pk, "an-old-session", check.pk) == []
    [message] = claim_for_link(device.pk, "session-1", check.pk)
    assert message.password == PASSWORD
    assert claim_for_link(device.pk, "session-1", check.pk) == []  # sent once only
    assert claim_for_link(device.pk, "session-1") == []


def test_credentials_are_sealed_to_the_appliance_or_not_sent_over_a_plain_link(camera):
    seal_key = sealing.generate_seal_key()
    device = appliance()
    Device.objects.filter(pk=device.pk).update(seal_key=sealing.public_b64(seal_key))
    check = _pending(camera, device, age_s=0)
    [message] = claim_for_link(device.pk, "session-1", check.pk)
    assert PASSWORD not in message.model_dump_json()
    sealing.open_check(seal_key, device.device_id, message)
    assert (message.username, message.password) == ("cam", PASSWORD)

    # From another machine in plain ws://: nothing secret leaves until an operator allows it.
    Device.objects.filter(pk=device.pk).update(link_transport="plain", link_address="10.9.8.7")
    check = _pending(camera, device, age_s=0)
    assert claim_for_link(device.pk, "session-1", check.pk) == []
    check.refresh_from_db()
    assert check.status == FAILED
    assert "not sent to the appliance" in check.message
    assert "from 10.9.8.7 over unencrypted ws://" in check.hint


def test_undecryptable_credentials_fail_the_check_instead_of_sending_it(camera, monkeypatch):
    device = appliance()
    check = _pending(camera, device, age_s=0)
    monkeypatch.setenv("CREDENTIALS_KEY", Fernet.generate_key().decode())
    crypto.reset_key_cache()
    try:
        assert claim_for_link(device.pk, "session-1") == []
    finally:
        monkeypatch.delenv("CREDENTIALS_KEY")
        crypto.reset_key_cache()
    check.refresh_from_db()
    assert check.status == FAILED
    assert check.message == "The check could not run (SecretUnreadable)."


def test_other_processes_may_relay_a_check_to_the_link(settings):
    """The worker or a shell (embedded mode) reaches the link through the signed relay."""
    payload = {
        "groups": ["link-device-aaaaaaaaaaaaaaaaaaaaaaaaaa"],
        "message": {"type": "link.check_stream", "check_id": 5},
        "sent": time.time(),
    }
    body = json.dumps(payload).encode()
    key = hmac.new(settings.SECRET_KEY.encode(), b"vantage-live-relay", hashlib.sha256).digest()
    signature = hmac.new(key, body, hashlib.sha256).hexdigest()
    response = Client().post(
        live.RELAY_PATH, body, content_type="application/json", HTTP_X_VANTAGE_SIGNATURE=signature
    )
    assert response.status_code == 200 and response.json() == {"delivered": 1}


def test_credentials_the_protocol_cannot_carry_fail_the_check_without_logging_them(camera, caplog):
    device = appliance()
    huge = "p" * 3000  # typed into a URL, credentials can be longer than the fields allow
    camera.set_credentials("cam", huge)
    camera.save()
    check = _pending(camera, device, age_s=0)
    assert claim_for_link(device.pk, "session-1") == []
    check.refresh_from_db()
    assert (check.status, check.message) == (FAILED, "The check could not run (ValidationError).")
    assert huge not in caplog.text
