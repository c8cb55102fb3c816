"""The console end of the device link, driven through the ASGI application in-process."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from devicelink import CLOSE_PROTOCOL_ERROR, CLOSE_REPLACED, CLOSE_REVOKED, LINK_PATH, auth
from devicelink.messages import Heartbeat, encode
from devices import desired
from devices.ingest import expire_leases
from devices.models import DeletedDevice, Device, DeviceJob, DeviceJobEvent, DeviceLog
from tests.support.devices import provisioned_device
from tests.support.link import (
    connect,
    hello,
    receive,
    report,
    upgrade_answer,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.in_process_asgi]


def test_hello_brings_the_device_online_and_succeeds_its_provisioning():
    device, key = provisioned_device()

    async def scenario():
        communicator, connected, _ = await connect(device, key)
        assert connected
        welcome = await hello(communicator)
        assert welcome.type == "welcome"
        assert welcome.device_id == device.device_id and welcome.last_seq == 0
        await communicator.send_to(encode(Heartbeat(id=1, time=time.time())))
        ack = await receive(communicator)
        assert ack.type == "heartbeat_ack" and ack.id == 1
        await communicator.disconnect()

    async_to_sync(scenario)()
    device.refresh_from_db()
    assert device.provisioning_status == "SUCCEEDED"
    assert device.connection_status == "ONLINE"
    assert device.serial_number == "42"
    assert device.lease_expires_at > timezone.now()
    assert device.accelerators == []


def test_the_hello_says_which_accelerators_applications_may_use():
    device, key = provisioned_device()

    async def scenario(accelerators):
        communicator, _, _ = await connect(device, key)
        await hello(communicator, accelerators=accelerators)
        await communicator.disconnect()

    async_to_sync(scenario)(("nvidia",))
    device.refresh_from_db()
    assert device.accelerators == ["nvidia"]
    async_to_sync(scenario)(())  # the GPU is gone (a new appliance, a driver removed)
    device.refresh_from_db()
    assert device.accelerators == []


def test_reports_are_stored_once_and_in_order():
    device, key = provisioned_device()
    logs = {
        "entries": [{"time": time.time(), "stream": "occ_log", "level": "INFO", "message": "hi"}]
    }

    async def scenario():
        communicator, _, _ = await connect(device, key)
        await hello(communicator)
        await communicator.send_to(report(1, "logs", logs))
        assert (await receive(communicator)).seq == 1
        await communicator.send_to(report(2, "software", {"version": "1.1.0"}))
        assert (await receive(communicator)).seq == 2
        # Re-sent after a lost ack: acknowledged again, stored once.
        await communicator.send_to(report(1, "logs", logs))
        assert (await receive(communicator)).seq == 1
        # A gap is a protocol error.
        await communicator.send_to(report(5, "logs", logs))
        closed = await communicator.receive_output(timeout=5)
        assert closed["type"] == "websocket.close" and closed["code"] == CLOSE_PROTOCOL_ERROR

    async_to_sync(scenario)()
    device.refresh_from_db()
    assert device.last_report_seq == 2
    assert device.current_software == "1.1.0"
    assert DeviceLog.objects.filter(device=device, message="hi").count() == 1


def test_the_welcome_tells_the_last_stored_report_and_desired_state_follows():
    device, key = provisioned_device()
    Device.objects.filter(pk=device.pk).update(last_report_seq=7, provisioning_status="SUCCEEDED")
    job = DeviceJob.objects.create(job_id=f"{device.device_id}-0", device=device, job_type="REBOOT")
    desired.publish(device)

    async def scenario():
        communicator, _, _ = await connect(device, key)
        welcome = await hello(communicator)
        assert welcome.last_seq == 7
        state = await receive(communicator)
        assert state.type == "desired" and state.version == 1
        assert [spec.job_id for spec in state.jobs] == [job.job_id]
        await communicator.send_to(
            report(8, "job", {"job_id": job.job_id, "status": "REBOOTING", "reason": ""})
        )
        await receive(communicator)
        await communicator.disconnect()

    async_to_sync(scenario)()
    job.refresh_from_db()
    assert job.status == "REBOOTING"
    assert list(DeviceJobEvent.objects.filter(job=job).values_list("status", flat=True)) == [
        "REBOOTING"
    ]
    assert Device.objects.with_aggregated_status().get(pk=device.pk).aggregated == "REBOOTING"


def test_a_newer_connection_replaces_the_older_one():
    device, key = provisioned_device()

    async def scenario():
        first, _, _ = await connect(device, key)
        await hello(first)
        second, connected, _ = await connect(device, key)
        assert connected
        closed = await first.receive_output(timeout=5)
        assert closed["type"] == "websocket.close" and closed["code"] == CLOSE_REPLACED
        await hello(second)
        await second.send_to(encode(Heartbeat(id=2, time=time.time())))
        assert (await receive(second)).type == "heartbeat_ack"
        await second.disconnect()

    async_to_sync(scenario)()


def test_deleting_a_device_tells_its_link_and_refuses_the_next_connection():
    device, key = provisioned_device()

    async def scenario():
        communicator, _, _ = await connect(device, key)
        await hello(communicator)

        @database_sync_to_async
        def delete():
            DeletedDevice.objects.create(device_id=device.device_id, name=device.name)
            Device.objects.filter(pk=device.pk).delete()
            desired.revoke(device.device_id, "This device was deleted from the console.")

        await delete()
        revoked = await receive(communicator)
        assert revoked.type == "revoked"
        closed = await communicator.receive_output(timeout=5)
        assert closed["code"] == CLOSE_REVOKED
        _, connected, _ = await connect(device, key)
        assert not connected

    async_to_sync(scenario)()


def test_a_refused_upgrade_is_an_http_answer_with_the_reason():
    device, _key = provisioned_device()
    wrong = auth.sign_request(auth.generate_private_key(), device.device_id, "GET", LINK_PATH)

    start, body = async_to_sync(upgrade_answer)(wrong)
    assert start["type"] == "websocket.http.response.start" and start["status"] == 401
    assert "signature" in json.loads(body["body"])["error"]


def test_an_expired_lease_makes_the_device_offline():
    device, _ = provisioned_device()
    Device.objects.filter(pk=device.pk).update(
        connection_status="ONLINE",
        provisioning_status="SUCCEEDED",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    assert expire_leases() == [device.device_id]
    assert Device.objects.with_aggregated_status().get(pk=device.pk).aggregated == "OFFLINE"
    assert expire_leases() == []
