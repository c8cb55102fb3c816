"""Application logs and metrics end to end: the agent's AppLogs and AppMetrics, wired to a real
LinkClient the way edge_agent/agent.py wires them, against the live console."""

from __future__ import annotations

import asyncio

import pytest

from applications import metrics
from applications.models import ApplicationInstance, InstanceMetricSample
from devices.models import DeviceLog
from edge_agent.apps.applogs import AppLogs
from edge_agent.outbox import Outbox
from tests.support.agent_pieces import refreshed
from tests.support.devices import provisioned_device
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_a_line_and_heartbeat_metrics_reach_the_console(tmp_path, live_stack, links):
    device, key = provisioned_device("lobby-1")
    instance = ApplicationInstance.objects.create(
        name="people-counter", device=device, status="DEPLOYMENT_SUCCEEDED"
    )
    iid = instance.application_instance_id
    metrics.reset()
    app_logs = AppLogs(interval_s=0.1)
    folder = tmp_path / "apps" / iid / "logs" / "code"
    folder.mkdir(parents=True)
    (folder / "app.log").write_text("2026-01-01 12:00:00 WARNING written by the app\n")
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(
            live_stack.url, device, key, outbox, app_metrics=app_logs.metrics.snapshot
        )
        client = run.client
        assert run.call(client.wait_connected, 10)
        # In a list: call() would await a bare task, which runs until cancelled.
        [shipping] = run.call(
            lambda: [
                asyncio.ensure_future(
                    app_logs.run(
                        lambda entries: client.queue_report("logs", {"entries": entries}),
                        outbox.count,
                    )
                )
            ]
        )
        app_logs.follow(iid, "code_node", folder)
        app_logs.console_output(iid, "code_node", "Traceback (most recent call last):", stderr=True)
        app_logs.line(iid, "front_door", "stream", "INFO", "connected to the camera")
        app_logs.metrics.add(iid, "front_door", {"frames": 120, "dropped": 1, "fps": 12.0})

        def stored(message: str) -> DeviceLog | None:
            return DeviceLog.objects.filter(device=device, message=message).first()

        line = wait_for(lambda: stored("connected to the camera"), 15, "the line stored")
        assert (line.application_instance_id, line.node, line.stream) == (
            iid,
            "front_door",
            "stream",
        )
        code = wait_for(lambda: stored("2026-01-01 12:00:00 WARNING written by the app"), 15,
                        "the file's line stored")  # fmt: skip
        assert (code.stream, code.level, code.node) == ("code", "WARNING", "code_node")
        assert stored("Traceback (most recent call last):").level == "ERROR"
        sample = wait_for(
            lambda: InstanceMetricSample.objects.filter(instance=instance).first(), 15,
            "a heartbeat's metrics stored",
        )  # fmt: skip
        assert sample.nodes["front_door"] == {"frames": 120, "dropped": 1, "fps": 12.0}
        assert sample.nodes["code_node"] == {"errors": 1}
        run.call(shipping.cancel)
    assert refreshed(device).connection_status == "ONLINE"
