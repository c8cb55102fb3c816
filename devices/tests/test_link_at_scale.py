"""What keeps the device link cheap at fleet scale (issue #15): the audit log records operators'
actions only, a heartbeat is one statement, and link writes leave the dashboard recount and the
rendering of unwatched pages out of the link's path."""

from __future__ import annotations

import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from auditlog.models import LogEntry
from channels_redis.core import RedisChannelLayer
from django.urls import reverse

from console.dashboard import COUNTS_PARTIAL
from core import live as console_live
from devicelink.messages import Health, Heartbeat, Hello, encode
from devices import ingest
from devices.models import LINK_FIELDS, Device
from tests.support.devices import NETWORK_STATUS, online_device, provisioned_device
from tests.support.link import connect, hello, receive, report

HEALTH = Health(cpu_percent=12.0, memory_percent=34.0)


def audit_rows(device: Device) -> int:
    return LogEntry.objects.get_for_object(device).count()


@pytest.mark.django_db(transaction=True)
@pytest.mark.in_process_asgi
def test_the_link_writes_no_audit_row_while_an_operators_change_does(admin_client):
    device, key = provisioned_device()
    before = audit_rows(device)

    async def connection_with_heartbeats_and_a_report():
        communicator, connected, _ = await connect(device, key)
        assert connected
        assert (await hello(communicator)).type == "welcome"
        for beat in (1, 2):
            await communicator.send_to(encode(Heartbeat(id=beat, time=time.time(), health=HEALTH)))
            assert (await receive(communicator)).type == "heartbeat_ack"
        await communicator.send_to(report(1, "network", NETWORK_STATUS))
        assert (await receive(communicator)).type == "ack"
        await communicator.disconnect()

    for _ in range(2):  # a reconnection too
        async_to_sync(connection_with_heartbeats_and_a_report)()
    device.refresh_from_db()
    assert device.connection_status == "ONLINE" and device.last_report_seq == 1
    assert device.health["cpu_percent"] == 12.0
    assert audit_rows(device) == before

    response = admin_client.post(
        reverse("device-edit", args=[device.device_id]),
        {"description": "Loading dock", "tags": ""},
    )
    assert response.status_code in (200, 302)
    device.refresh_from_db()
    assert device.description == "Loading dock"
    entry = LogEntry.objects.get_for_object(device).order_by("-timestamp").first()
    assert audit_rows(device) == before + 1
    assert entry.actor is not None and "description" in entry.changes_dict


def test_the_audit_log_leaves_out_exactly_the_links_fields():
    from auditlog.registry import auditlog

    excluded = set(auditlog.get_model_fields(Device)["exclude_fields"])
    assert excluded == set(LINK_FIELDS)
    # What operators change (and deletion's status) stays in the log.
    assert not excluded & {"name", "description", "tags", "network_config", "provisioning_status"}
    assert set(LINK_FIELDS) <= {field.name for field in Device._meta.concrete_fields}


@pytest.mark.django_db
def test_a_heartbeat_of_an_online_device_is_one_statement(django_assert_num_queries):
    device = online_device(link_session="s1")
    with django_assert_num_queries(1):
        result = ingest.on_heartbeat(
            device.pk, "s1", Heartbeat(id=7, time=time.time(), health=HEALTH)
        )
    assert result.ack.id == 7
    assert result.desired_version == device.desired_version
    device.refresh_from_db()
    assert device.health["cpu_percent"] == 12.0
    assert result.ack.lease_expires == pytest.approx(device.lease_expires_at.timestamp())


@pytest.mark.django_db
def test_a_heartbeat_after_the_lease_ran_out_brings_the_device_back(
    django_capture_on_commit_callbacks, monkeypatch
):
    device = online_device(link_session="s1", connection_status="OFFLINE")
    sent: list[tuple[list[str], str]] = []
    monkeypatch.setattr(console_live, "deliver", lambda groups, html: sent.append((groups, html)))
    with django_capture_on_commit_callbacks(execute=True):
        ingest.on_heartbeat(device.pk, "s1", Heartbeat(id=1, time=time.time()))
    device.refresh_from_db()
    assert device.connection_status == "ONLINE"
    # The device's page and its row in the list show it online again.
    assert any(f"device-{device.device_id}" in groups for groups, _ in sent)
    assert any("fleet" in groups for groups, _ in sent)


@pytest.mark.django_db
def test_a_heartbeat_of_a_replaced_or_deleted_connection_changes_nothing():
    device = online_device(link_session="new")
    with pytest.raises(ingest.LinkGone) as replaced:
        ingest.on_heartbeat(device.pk, "old", Heartbeat(id=1, time=time.time(), health=HEALTH))
    assert not replaced.value.revoked
    device.refresh_from_db()
    assert device.health == {}
    pk = device.pk
    device.delete()
    with pytest.raises(ingest.LinkGone) as deleted:
        ingest.on_heartbeat(pk, "new", Heartbeat(id=1, time=time.time()))
    assert deleted.value.revoked


@pytest.mark.django_db
def test_devices_coming_online_do_not_recount_the_dashboard_in_the_link(
    django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[tuple[list[str], str]] = []
    monkeypatch.setattr(console_live, "deliver", lambda groups, html: sent.append((groups, html)))
    devices = [provisioned_device(f"dock-{index}")[0] for index in range(3)]
    sent.clear()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        for device in devices:
            ingest.on_hello(device.pk, uuid.uuid4().hex, Hello(protocol=1, software_version=""))
    for callback in callbacks:
        if getattr(callback, "__qualname__", "").startswith("broadcast_dashboard_soon"):
            continue  # queues the worker's recount (console/tasks.py), at most once a second
        callback()
    assert all(COUNTS_PARTIAL.split("#")[1] not in html for _, html in sent)
    assert {groups[0] for groups, _ in sent} >= {f"device-{d.device_id}" for d in devices}


def redis_layer() -> RedisChannelLayer:
    # A layer of its own (prefix) on the Redis the suite uses, or the local default one.
    from django.conf import settings

    url = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
    return RedisChannelLayer(hosts=[url], prefix=f"test-watch-{uuid.uuid4().hex[:8]}")


def test_only_groups_that_a_page_subscribes_to_count_as_watched():
    layer = redis_layer()

    async def join(group: str) -> str:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        return channel

    channel = async_to_sync(join)("device-watched")
    try:
        groups = ["fleet", "device-watched", "device-nobody"]
        assert console_live.groups_with_members(layer, groups) == ["device-watched"]
        async_to_sync(layer.group_discard)("device-watched", channel)
        assert console_live.groups_with_members(layer, groups) == []
    finally:
        async_to_sync(layer.flush)()


@pytest.mark.django_db
def test_an_update_is_rendered_only_for_the_groups_watched(
    monkeypatch, django_capture_on_commit_callbacks
):
    watched: list[str] = []
    rendered: list[str] = []
    sent: list[tuple[list[str], str]] = []
    monkeypatch.setattr(console_live, "watched_groups", lambda groups: [*watched])
    monkeypatch.setattr(
        console_live, "render_to_string", lambda template, context: rendered.append(template) or "x"
    )
    monkeypatch.setattr(console_live, "deliver", lambda groups, html: sent.append((groups, html)))
    with django_capture_on_commit_callbacks(execute=True):
        console_live.broadcast(["fleet", "device-abc"], "some.html", lambda: {})
    assert rendered == [] and sent == []
    watched.append("device-abc")
    with django_capture_on_commit_callbacks(execute=True):
        console_live.broadcast(["fleet", "device-abc"], "some.html", lambda: {})
    assert rendered == ["some.html"] and sent == [(["device-abc"], "x")]
