"""devices/live.py: what each change broadcasts, to whom, rendered by the page's own partials."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import live as console_live
from core.status import UpdateProgress
from devices import live
from devices.models import Device, DeviceJob, DeviceJobEvent, DeviceLog
from devices.presenters import SECTIONS
from tests.support.devices import NETWORK_STATUS, online_device

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch, django_capture_on_commit_callbacks):
    messages: list[tuple[list[str], str]] = []
    monkeypatch.setattr(
        console_live, "deliver", lambda groups, html: messages.append((groups, html))
    )

    class Sent(list):
        def run(self, action):
            with django_capture_on_commit_callbacks(execute=True):
                action()
            return messages

    return Sent()


def to(messages, group: str) -> str:
    return "".join(html for groups, html in messages if group in groups)


def test_each_section_sends_its_panel_to_the_device_group(sent):
    device = online_device(network_status=NETWORK_STATUS, health={"cpu_percent": 42.0})
    expected = {
        "status": 'id="device-status-panel"',
        "network": "192.168.0.10/24",
        "software": 'id="device-software"',
        "health": "42 %",
        "jobs": 'id="device-jobs"',
        "details": 'id="device-details"',
        "logs": 'id="device-logs-refresh"',
    }
    for section, marker in expected.items():
        messages = sent.run(lambda s=section: live.device_updated(device, [s]))
        assert marker in to(messages, f"device-{device.device_id}"), section
        messages.clear()


def test_status_changes_update_the_list_row_and_the_setup_page(sent):
    device = online_device()
    messages = sent.run(lambda: live.device_updated(device, ["status"]))
    fleet = to(messages, "fleet")
    for cell in (
        "device-status-",
        "device-connection-",
        "device-software-cell-",
        "device-heartbeat-",
    ):
        assert f'id="{cell}{device.device_id}"' in fleet, cell
    assert 'data-status="ONLINE"' in fleet
    page = to(messages, f"device-{device.device_id}")
    assert 'id="setup-status"' in page and 'data-state="connected"' in page
    assert "Your appliance is now connected and online." in page
    assert 'id="setup-stepper"' in page


def test_fragments_carry_no_credentials(sent):
    device = online_device()
    messages = sent.run(lambda: live.device_updated(device, SECTIONS))
    assert device.public_key not in "".join(html for _groups, html in messages)


def test_unknown_sections_are_refused():
    device = online_device()
    with pytest.raises(ValueError, match="unknown sections"):
        live.device_updated(device, ["everything"])


def test_job_updates_re_render_the_job_list_with_history(sent):
    device = online_device()
    job = DeviceJob.objects.create(
        job_id=f"{device.device_id}-1", device=device, job_type="REBOOT",
        status=UpdateProgress.REBOOTING,
    )  # fmt: skip
    DeviceJobEvent.objects.create(job=job, status="PENDING")
    DeviceJobEvent.objects.create(job=job, status="REBOOTING")
    messages = sent.run(lambda: live.job_updated(job))
    page = to(messages, f"device-{device.device_id}")
    assert f'data-testid="job-{job.job_id}" data-status="REBOOTING"' in page
    assert "Status light: Fast blinking green" in page


def test_new_log_lines_are_appended_to_the_tail(sent):
    device = online_device()
    entries = [
        DeviceLog.objects.create(
            device=device, time=datetime(2026, 11, 24, 20, 0, second, tzinfo=UTC),
            stream="occ_log", level=level, message=f"line {second}",
        )
        for second, level in ((2, "ERROR"), (1, "INFO"))
    ]  # fmt: skip
    messages = sent.run(lambda: live.logs_added(device, entries))
    page = to(messages, f"device-{device.device_id}")
    assert '<div id="device-log-lines" hx-swap-oob="beforeend">' in page
    assert page.index("line 1") < page.index("line 2")  # in time order
    assert 'class="log-line log-ERROR log-live"' in page  # hidden by the level filter's CSS
    assert "fleet" not in [g for groups, _html in messages for g in groups]


def test_a_device_deleted_before_the_broadcast_renders_nothing(sent):
    device = online_device()

    def change_then_delete():
        live.device_updated(device, ["status", "network"])
        Device.objects.filter(pk=device.pk).delete()

    messages = sent.run(change_then_delete)
    assert "device-status-panel" not in "".join(html for _g, html in messages)


def test_a_heartbeat_updates_only_the_health_panel_without_a_query(sent, django_assert_num_queries):
    device = online_device(health={"cpu_percent": 17.0})
    with django_assert_num_queries(0):
        messages = sent.run(lambda: live.heartbeat_received(device))
    assert "17 %" in to(messages, f"device-{device.device_id}")
    assert 'id="device-health"' in to(messages, f"device-{device.device_id}")
    assert 'id="device-status-panel"' not in to(messages, f"device-{device.device_id}")
    assert to(messages, "fleet") == ""
