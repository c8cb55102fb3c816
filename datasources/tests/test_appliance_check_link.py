"""Stream checks run on an appliance, through the device link consumer driven in-process."""

from __future__ import annotations

import base64
import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from core.status import NodeFromTemplateJobStatus
from datasources.checks import start_check
from datasources.models import DataSource, StreamCheck
from devicelink.messages import CheckStream, Report, encode
from devices.models import Device
from tests.support import link
from tests.support.devices import provisioned_device

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.in_process_asgi]

PASSWORD = "Cam-secret-4410"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"


@pytest.fixture
def camera() -> DataSource:
    source = DataSource(name="gate", url="rtsp://10.1.2.3:554/stream1")
    source.set_credentials("cam", PASSWORD)
    source.save()
    return source


def online(name: str = "lobby-1"):
    device, key = provisioned_device(name)
    Device.objects.filter(pk=device.pk).update(
        provisioning_status="SUCCEEDED", connection_status="ONLINE"
    )
    device.refresh_from_db()
    return device, key


async def connect(device: Device, key) -> WebsocketCommunicator:
    communicator, connected, _ = await link.connect(device, key)
    assert connected
    return communicator


async def hello(communicator: WebsocketCommunicator):
    welcome = await link.hello(communicator)
    assert welcome.type == "welcome"
    return welcome


receive = link.receive


def report(seq: int, body: dict) -> str:
    return encode(Report(seq=seq, time=time.time(), kind="stream_check", body=body))


start = database_sync_to_async(start_check)


@database_sync_to_async
def check_of(pk: int) -> StreamCheck:
    return StreamCheck.objects.select_related("device").get(pk=pk)


def test_the_link_sends_the_check_with_credentials_and_stores_the_answer(camera, operator):
    device, key = online()

    async def scenario():
        communicator = await connect(device, key)
        await hello(communicator)
        check = await start(camera, operator, device)
        message = await receive(communicator)
        assert isinstance(message, CheckStream)
        assert (message.check_id, message.url) == (check.pk, camera.url)
        assert (message.username, message.password) == ("cam", PASSWORD)
        assert message.timeout_s > 0
        assert PASSWORD not in repr(message)  # the message never prints its secrets
        assert (await check_of(check.pk)).started is not None  # sent: claimed once

        answer = {
            "check_id": check.pk, "ok": True, "codec": "h264", "width": 768, "height": 576,
            "fps": 30.0, "first_frame_ms": 140,
            "snapshot_jpeg_b64": base64.b64encode(JPEG).decode(),
        }  # fmt: skip
        await communicator.send_to(report(1, answer))
        assert (await receive(communicator)).seq == 1
        # A late, different answer (a re-run on the appliance) changes nothing any more.
        late = {"check_id": check.pk, "ok": False, "error": "late", "hint": ""}
        await communicator.send_to(report(2, late))
        assert (await receive(communicator)).seq == 2
        await communicator.disconnect()
        return check.pk

    check = StreamCheck.objects.get(pk=async_to_sync(scenario)())
    assert check.status == NodeFromTemplateJobStatus.SUCCEEDED
    assert (check.codec, check.width, check.height, check.fps) == ("h264", 768, 576, 30.0)
    assert check.first_frame_ms == 140 and bytes(check.snapshot) == JPEG
    assert check.device == device and check.ran_on == "appliance"
    assert check.summary.startswith("H264 768x576 at 30 fps")
    assert check.tested_from == "Tested from lobby-1"


def test_a_failure_is_stored_in_the_appliances_words(camera, operator):
    device, key = online()

    async def scenario():
        communicator = await connect(device, key)
        await hello(communicator)
        check = await start(camera, operator, device)
        await receive(communicator)
        failed = {
            "check_id": check.pk, "ok": False,
            "error": "Failed to get SDP description: 401 Unauthorized; with the result code: 401",
            "hint": "The camera refused the credentials.",
        }  # fmt: skip
        await communicator.send_to(report(1, failed))
        await receive(communicator)
        await communicator.disconnect()
        return check.pk

    check = StreamCheck.objects.get(pk=async_to_sync(scenario)())
    assert check.status == NodeFromTemplateJobStatus.FAILED
    assert check.message.endswith("401 Unauthorized; with the result code: 401")
    assert check.hint == "The camera refused the credentials."


def test_a_check_asked_for_while_the_link_was_down_is_sent_after_hello(camera, operator):
    device, key = online()
    # ONLINE by its lease, but its connection is gone: the nudge reaches nobody.
    check = start_check(camera, operator, device)

    async def scenario():
        communicator = await connect(device, key)
        await hello(communicator)
        message = await receive(communicator)
        await communicator.disconnect()
        return message

    message = async_to_sync(scenario)()
    assert isinstance(message, CheckStream) and message.check_id == check.pk


def test_a_device_cannot_answer_another_devices_check_and_a_bad_snapshot_is_dropped(
    camera, operator
):
    device, key = online()
    other, _ = online("other-1")
    theirs = start_check(camera, operator, other)
    second = DataSource.objects.create(name="yard", url="rtsp://10.1.2.4/s")

    async def scenario():
        communicator = await connect(device, key)
        await hello(communicator)
        mine = await start(second, operator, device)
        await receive(communicator)  # its check_stream
        not_jpeg = base64.b64encode(b"<html>not a picture</html>").decode()
        for seq, check_id in enumerate((theirs.pk, mine.pk), start=1):
            body = {"check_id": check_id, "ok": True, "codec": "h264", "width": 2,
                    "height": 2, "snapshot_jpeg_b64": not_jpeg}  # fmt: skip
            await communicator.send_to(report(seq, body))
            assert (await receive(communicator)).seq == seq
        await communicator.disconnect()

    async_to_sync(scenario)()
    theirs.refresh_from_db()
    assert theirs.status == NodeFromTemplateJobStatus.PENDING  # untouched by lobby-1
    mine = second.checks.get()
    assert mine.status == NodeFromTemplateJobStatus.SUCCEEDED
    assert bytes(mine.snapshot) == b""
