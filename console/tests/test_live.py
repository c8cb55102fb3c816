"""The live-status plumbing: the WebSocket consumer, broadcast() and the relay."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from console.asgi import application
from core import live
from tests.support.devices import make_device

pytestmark = pytest.mark.in_process_asgi

HOST_HEADERS = [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000")]


async def _connect(path: str, cookie: str | None = None, origin: bytes = b"http://127.0.0.1:8000"):
    headers = [(b"host", b"127.0.0.1:8000"), (b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


@pytest.mark.django_db(transaction=True)
def test_signed_in_user_receives_broadcast_fragments(viewer):
    cookie = _session_cookie(viewer)
    device = make_device("lobby-1")

    async def scenario():
        group = f"device-{device.device_id}"
        communicator, connected, _ = await _connect(f"/ws/live/?groups=fleet,{group}", cookie)
        assert connected
        await database_sync_to_async(live.deliver)([group], '<div id="x">1</div>')
        assert await communicator.receive_from(timeout=5) == '<div id="x">1</div>'
        await communicator.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_anonymous_socket_is_refused():
    async def scenario():
        _communicator, connected, code = await _connect("/ws/live/?groups=fleet")
        assert not connected
        assert code == 4401

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_foreign_origin_is_refused(viewer):
    cookie = _session_cookie(viewer)

    async def scenario():
        _c, connected, _code = await _connect("/ws/live/?groups=fleet", cookie, b"http://evil.test")
        assert not connected

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_page_of_another_port_on_the_same_host_is_refused(viewer):
    cookie = _session_cookie(viewer)

    async def scenario():
        foreign = b"http://127.0.0.1:9999"  # another server on this machine
        _c, connected, _code = await _connect("/ws/live/?groups=fleet", cookie, foreign)
        assert not connected

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "groups", ["", "everything", "fleet,device-../x", ",".join(["fleet"] * 21)]
)
def test_unknown_or_too_many_groups_are_refused(viewer, groups):
    cookie = _session_cookie(viewer)

    async def scenario():
        _c, connected, code = await _connect(f"/ws/live/?groups={groups}", cookie)
        assert not connected
        assert code == 4400

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_internal_and_unknown_groups_are_refused_with_the_reason(viewer):
    """A page cannot join an internal group (issue #20: a page joining device-output-<id>
    crashed its socket), nor the group of a device or application that does not exist."""
    cookie = _session_cookie(viewer)
    device = make_device("lobby-1")
    asked = [
        f"device-output-{device.device_id}",
        f"output-{device.device_id}",
        f"link-{device.device_id}",
        "device-device-nosuchdevice",
        "app-applicationInstance-nosuchapp",
    ]

    async def scenario():
        for group in asked:
            headers = [*HOST_HEADERS, (b"cookie", cookie.encode())]
            communicator = WebsocketCommunicator(
                application, f"/ws/live/?groups=fleet,{group}", headers=headers
            )
            await communicator.send_input({"type": "websocket.connect"})
            answer = await communicator.receive_output(timeout=5)
            assert answer["type"] == "websocket.close", (group, answer)
            assert answer["code"] == 4400
            assert answer["reason"] == f"No such live group: {group}"
            await communicator.wait()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_message_of_another_kind_in_a_live_group_does_not_end_the_socket(viewer):
    cookie = _session_cookie(viewer)
    device = make_device("lobby-1")
    group = f"device-{device.device_id}"

    async def scenario():
        communicator, connected, _ = await _connect(f"/ws/live/?groups={group}", cookie)
        assert connected
        layer = get_channel_layer()
        # What an internal sender could put in the wrong group: an HDMI frame, a link message.
        await layer.group_send(group, {"type": "output.frame", "jpeg": b"\xff\xd8"})
        await layer.group_send(group, {"type": "close", "code": 1000})
        await database_sync_to_async(live.deliver)([group], '<div id="x">2</div>')
        assert await communicator.receive_from(timeout=5) == '<div id="x">2</div>'
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_broadcast_rejects_bad_group_names():
    with pytest.raises(ValueError, match="not a live-status group"):
        live.broadcast("all users", "partials/status_badge.html", {"value": "ONLINE"})


@pytest.mark.django_db
def test_broadcast_is_sent_only_after_commit(monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(live, "deliver", lambda groups, html: sent.append((groups, html)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        live.broadcast("fleet", "partials/status_badge.html", {"value": "ONLINE"})
    assert sent == []
    for callback in callbacks:
        callback()
    assert sent[0][0] == ["fleet"]
    assert 'data-status="ONLINE"' in sent[0][1]


def _signed(body: dict, key: bytes | None = None) -> tuple[bytes, str]:
    raw = json.dumps(body).encode()
    return raw, hmac.new(key or live._relay_key(), raw, hashlib.sha256).hexdigest()


@pytest.mark.django_db
def test_relay_refuses_bad_signature_and_stale_messages(client):
    raw, _ = _signed({"groups": ["fleet"], "html": "x", "sent": time.time()})
    response = client.post(
        live.RELAY_PATH, raw, content_type="application/json", HTTP_X_VANTAGE_SIGNATURE="00"
    )
    assert response.status_code == 403
    raw, signature = _signed({"groups": ["fleet"], "html": "x", "sent": time.time() - 3600})
    response = client.post(
        live.RELAY_PATH, raw, content_type="application/json", HTTP_X_VANTAGE_SIGNATURE=signature
    )
    assert response.status_code == 403
    raw, signature = _signed({"groups": ["fleet"], "html": "x", "sent": time.time()}, b"other")
    response = client.post(
        live.RELAY_PATH, raw, content_type="application/json", HTTP_X_VANTAGE_SIGNATURE=signature
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_relay_accepts_signed_messages(client):
    raw, signature = _signed({"groups": ["fleet"], "html": "<p>x</p>", "sent": time.time()})
    response = client.post(
        live.RELAY_PATH, raw, content_type="application/json", HTTP_X_VANTAGE_SIGNATURE=signature
    )
    assert response.status_code == 200
    assert response.json() == {"delivered": 1}


@pytest.mark.django_db
def test_dashboard_counts_are_broadcast_on_change(monkeypatch, django_capture_on_commit_callbacks):

    sent = []
    monkeypatch.setattr(live, "deliver", lambda groups, html: sent.append((groups, html)))
    with django_capture_on_commit_callbacks(execute=True):
        make_device(name="edge-1")
    groups, html = sent[-1]
    assert groups == ["fleet"]
    assert 'id="dashboard-counts"' in html
    assert 'data-testid="devices-total">1<' in html
