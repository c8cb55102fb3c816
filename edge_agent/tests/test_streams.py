"""Stream checks on the appliance: the probe's report, the thread it runs in, the link hook.

The whole path (console → link → agent → a real RTSP camera → report → console) is tested in
tests/e2e/test_appliance_stream_check.py.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from pathlib import Path

import edge_agent
from devicelink import auth
from devicelink.messages import Ack, CheckStream, StreamCheckBody, encode
from edge_agent.link import LinkClient, LinkConfig, LinkHooks
from edge_agent.outbox import Outbox
from edge_agent.streams import StreamChecker, run_check
from streamcheck.probe import NOT_H264
from tests.support.ports import free_port
from tests.support.waiting import eventually, wait_for

# The shared test videos, next to the checkout (as in the root conftest, which needs Django).
MEDIA_DIR = Path(edge_agent.__file__).resolve().parent.parent.parent / "shared" / "media"
DEVICE_ID = "device-aaaaaaaaaaaaaaaaaaaaaaaaaa"
SECRET = "Very-secret-5521"


def request(check_id: int = 1, url: str = "", **extra) -> CheckStream:
    return CheckStream(
        check_id=check_id, url=url or f"file://{MEDIA_DIR}/pedestrians.mp4", timeout_s=5, **extra
    )


def test_a_recorded_h264_video_is_reported_with_its_snapshot():
    body = run_check(request(7))
    StreamCheckBody.model_validate(body)  # what the console accepts
    assert body["check_id"] == 7 and body["ok"] is True
    assert (body["codec"], body["width"], body["height"]) == ("h264", 768, 576)
    assert body["first_frame_ms"] >= 0
    assert base64.b64decode(body["snapshot_jpeg_b64"])[:3] == b"\xff\xd8\xff"


def test_failures_are_reported_in_panoramas_words():
    body = run_check(request(url=f"file://{MEDIA_DIR}/pedestrians_h265.mp4"))
    assert (body["ok"], body["error"]) == (False, NOT_H264)
    assert "HEVC" in body["hint"]
    body = run_check(request(url="http://10.0.0.1/admin"))
    assert body["ok"] is False and "not http://" in body["error"]


def test_the_password_is_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    url = f"rtsp://127.0.0.1:{free_port()}/stream"
    message = request(url=url, username="admin", password=SECRET)
    body = run_check(message)
    assert body["ok"] is False and "Connection refused" in body["error"]
    assert SECRET not in caplog.text and SECRET not in str(body)
    assert SECRET not in repr(message) and SECRET not in str(message)


class Reports:
    def __init__(self) -> None:
        self.queued: list[tuple[str, dict]] = []

    def queue_report(self, kind: str, body: dict) -> int:
        self.queued.append((kind, body))
        return len(self.queued)


def test_checks_run_beside_the_event_loop_at_most_two_at_a_time_each_once():
    release = threading.Event()
    started: list[int] = []

    def slow_check(message: CheckStream) -> dict:
        started.append(message.check_id)
        release.wait(10)
        return {"check_id": message.check_id, "ok": True, "codec": "h264"}

    reports = Reports()

    async def scenario():
        checker = StreamChecker(reports, check=slow_check, max_parallel=2)
        for check_id in (1, 2, 3, 1):  # 1 twice: the console asked again
            checker.handle(request(check_id))
        # The loop keeps running (eventually() sleeps on it) while two probes block.
        await eventually(lambda: len(started) == 2)
        assert checker.running == 3 and reports.queued == []
        release.set()
        await eventually(lambda: len(reports.queued) == 3)
        assert checker.running == 0

    asyncio.run(scenario())
    assert sorted(started) == [1, 2, 3]
    assert {body["check_id"] for _, body in reports.queued} == {1, 2, 3}
    assert {kind for kind, _ in reports.queued} == {"stream_check"}


def test_a_check_that_crashes_is_reported_as_failed():
    def broken(message: CheckStream) -> dict:
        raise RuntimeError(f"boom {message.password}")

    reports = Reports()

    async def scenario():
        checker = StreamChecker(reports, check=broken)
        checker.handle(request(4, password=SECRET))
        await eventually(lambda: reports.queued)

    asyncio.run(scenario())
    [(_, body)] = reports.queued
    assert body == {
        "check_id": 4, "ok": False, "error": "The appliance could not run the check.", "hint": "",
    }  # fmt: skip


def test_stopping_does_not_wait_for_a_probe_that_hangs():
    release = threading.Event()
    reports = Reports()

    async def scenario():
        checker = StreamChecker(reports, check=lambda m: release.wait(30) and {})
        checker.handle(request())
        await eventually(lambda: any(t.name == "stream-check" for t in threading.enumerate()))
        await checker.close()
        assert checker.running == 0

    asyncio.run(scenario())  # returns although the probe still runs
    release.set()  # the probe ends after the loop closed: nothing breaks, nothing is reported
    wait_for(lambda: not any(t.name == "stream-check" for t in threading.enumerate()))
    assert reports.queued == []


def test_the_link_hands_check_stream_to_the_checker_and_the_result_enters_the_outbox(tmp_path):
    received: list[CheckStream] = []
    with Outbox(tmp_path / "outbox.sqlite3", DEVICE_ID) as outbox:
        config = LinkConfig(
            console_url="http://127.0.0.1:1",
            device_id=DEVICE_ID,
            private_key=auth.generate_private_key(),
            software_version="1.2.3",
        )
        hooks = LinkHooks(handlers={CheckStream: received.append})
        client = LinkClient(config, outbox, hooks)
        client._handle(encode(request(9, password=SECRET)))
        client._handle(encode(Ack(seq=1)).encode())
        client._handle('{"type": "check_stream", "check_id": "not a number"}')
        assert [message.check_id for message in received] == [9]
        assert received[0].password == SECRET

        async def scenario():
            checker = StreamChecker(client, check=run_check)
            checker.handle(received[0])
            await eventually(lambda: outbox.count() == 1)

        asyncio.run(scenario())
        [entry] = outbox.pending(after=0, limit=10)
        assert entry.kind == "stream_check" and entry.body["ok"] is True
        assert SECRET not in str(entry.body)
