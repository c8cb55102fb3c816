"""Application logs on the console: ingest with instance and node, the instance page's Logs
panel (filters, live tail, download), the device page's application filter, and metrics from
heartbeats through the real link consumer."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from applications import metrics
from applications.models import ApplicationInstance, InstanceMetricSample, NodeInstance
from core import live as console_live
from devicelink.messages import Heartbeat, encode
from devices import ingest
from devices.models import DeviceLog
from tests.support.devices import provisioned_device
from tests.support.link import connect, hello, receive, report

pytestmark = pytest.mark.django_db


def entry(message: str, stream: str = "console_output", node: str = "code_node", **extra):
    return {"time": time.time(), "stream": stream, "level": "INFO", "message": message,
            "node": node, **extra}  # fmt: skip


@pytest.fixture
def sent(monkeypatch, django_capture_on_commit_callbacks):
    messages: list[tuple[list[str], str]] = []
    monkeypatch.setattr(
        console_live, "deliver", lambda groups, html: messages.append((groups, html))
    )
    return messages


@pytest.fixture
def deployed():
    device, key = provisioned_device()
    instance = ApplicationInstance.objects.create(
        name="people-counter", device=device, status="DEPLOYMENT_SUCCEEDED"
    )
    for name, kind in (("code_node", "code"), ("front_door", "camera"), ("model", "model")):
        NodeInstance.objects.create(instance=instance, node_instance_id=name, kind=kind)
    metrics.reset()
    return device, key, instance


def store_logs(device, entries: list[dict], capture) -> None:
    """A logs report through the link's ingest, with its live updates sent."""
    device.refresh_from_db()
    session = "s1"
    type(device).objects.filter(pk=device.pk).update(link_session=session)
    from devicelink.messages import Report

    with capture(execute=True):
        ingest.on_report(
            device.pk,
            session,
            Report(seq=device.last_report_seq + 1, time=time.time(), kind="logs",
                   body={"entries": entries}),
        )  # fmt: skip


def test_lines_keep_their_instance_and_node_and_tail_live_on_the_instance_page(
    deployed, sent, django_capture_on_commit_callbacks
):
    device, _, instance = deployed
    iid = instance.application_instance_id
    other = ApplicationInstance.objects.create(name="not-mine", device=provisioned_device("x")[0])
    store_logs(device, [
        entry("hello from code", application_instance_id=iid),
        entry("fps dropped", stream="stream", node="front_door", application_instance_id=iid),
        entry("not this device's app", application_instance_id=other.application_instance_id),
        {"time": time.time(), "stream": "syslog", "message": "the device's own"},
    ], django_capture_on_commit_callbacks)  # fmt: skip
    stored = DeviceLog.objects.get(message="hello from code")
    assert (stored.application_instance_id, stored.node) == (iid, "code_node")
    assert DeviceLog.objects.get(message="the device's own").application_instance_id == ""
    app_html = "".join(html for groups, html in sent if f"app-{iid}" in groups)
    assert "hello from code" in app_html and 'data-node="front_door"' in app_html
    assert "the device's own" not in app_html
    assert not [g for groups, _ in sent for g in groups if other.application_instance_id in g], (
        "a device cannot write into another device's application"
    )


def test_the_instance_page_filters_its_logs_and_downloads_them(
    deployed, admin_client, django_capture_on_commit_callbacks
):
    device, _, instance = deployed
    iid = instance.application_instance_id
    store_logs(device, [
        entry("print output", application_instance_id=iid),
        entry("camera lost", stream="stream", node="front_door", application_instance_id=iid,
              level="ERROR"),
        entry("model loaded", stream="model", node="model", application_instance_id=iid),
        {"time": time.time(), "stream": "syslog", "message": "device line"},
    ], django_capture_on_commit_callbacks)  # fmt: skip
    page = reverse("application-detail", args=[iid])
    html = admin_client.get(page).content.decode()
    assert "print output" in html and "camera lost" in html and "device line" not in html
    html = admin_client.get(page, {"stream": "stream"}).content.decode()
    assert "camera lost" in html and "print output" not in html and "model loaded" not in html
    html = admin_client.get(page, {"node": "model"}).content.decode()
    assert "model loaded" in html and "camera lost" not in html
    html = admin_client.get(page, {"level": "ERROR"}).content.decode()
    assert "camera lost" in html and "model loaded" not in html
    assert 'data-filter-node="model"' in admin_client.get(page, {"node": "model"}).content.decode()

    download = admin_client.get(
        reverse("application-logs-download", args=[iid]), {"level": "ERROR"}
    )
    text = b"".join(download.streaming_content).decode()
    assert download["Content-Disposition"] == 'attachment; filename="people-counter-logs.txt"'
    assert text.count("\n") == 1 and " ERROR stream front_door: camera lost" in text
    everything = admin_client.get(reverse("application-logs-download", args=[iid]))
    assert b"".join(everything.streaming_content).decode().count("\n") == 3


def test_the_device_page_filters_its_logs_by_application(
    deployed, admin_client, django_capture_on_commit_callbacks
):
    device, _, instance = deployed
    iid = instance.application_instance_id
    store_logs(device, [entry("app line", application_instance_id=iid),
                        {"time": time.time(), "stream": "syslog", "message": "device line"}],
               django_capture_on_commit_callbacks)  # fmt: skip
    page = reverse("device-detail", args=[device.device_id])
    both = admin_client.get(page).content.decode()
    assert "app line" in both and "device line" in both and "people-counter</option>" in both
    only_app = admin_client.get(page, {"application": iid}).content.decode()
    assert "app line" in only_app and "device line" not in only_app
    only_device = admin_client.get(page, {"application": "-"}).content.decode()
    assert "device line" in only_device and "app line" not in only_device
    download = admin_client.get(
        reverse("device-logs-download", args=[device.device_id]), {"application": iid}
    )
    text = b"".join(download.streaming_content).decode()
    assert "app line" in text and "device line" not in text and f"{iid}/code_node" in text


@pytest.mark.django_db(transaction=True)
def test_heartbeat_metrics_arrive_through_the_link_and_are_charted(deployed, admin_client):
    device, key, instance = deployed
    iid = instance.application_instance_id
    applications = {
        iid: {
            "front_door": {"frames": 300, "dropped": 3, "reconnects": 0, "fps": 9.5},
            "model": {"calls": 280, "inference_ms_p50": 12.0, "inference_ms_p99": 30.0,
                      "providers": ["CPUExecutionProvider"]},
        },
        "applicationInstance-unknown": {"x": {"fps": 1}},
    }  # fmt: skip

    async def scenario():
        communicator, _, _ = await connect(device, key)
        await hello(communicator)
        await communicator.send_to(encode(Heartbeat(id=1, time=time.time(),
                                                    applications=applications)))  # fmt: skip
        assert (await receive(communicator)).type == "heartbeat_ack"
        await communicator.send_to(report(1, "logs", {"entries": [
            entry("over the link", application_instance_id=iid)]}))  # fmt: skip
        assert (await receive(communicator)).seq == 1
        await communicator.disconnect()

    async_to_sync(scenario)()
    sample = InstanceMetricSample.objects.get()
    assert sample.instance == instance
    assert sample.nodes["model"]["providers"] == ["CPUExecutionProvider"]
    assert DeviceLog.objects.get(message="over the link").node == "code_node"
    html = admin_client.get(reverse("application-detail", args=[iid])).content.decode()
    assert 'data-testid="chart-fps"' in html and 'data-testid="chart-inference"' in html
    assert "<svg" in html and "front_door" in html
    device_html = admin_client.get(reverse("device-detail", args=[device.device_id])).content
    assert b"people-counter / model p99" in device_html
