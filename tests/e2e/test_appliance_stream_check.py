"""Test stream from an appliance: the real stack, a real edge agent, a real RTSP camera.

The operator picks the appliance on the data sources page; the console's link consumer sends
the check with the camera's credentials over the appliance's own link; the agent probes the
camera and reports back through its outbox; the row shows the result live.
"""

from __future__ import annotations

import os
import signal

import pytest
from playwright.sync_api import expect

from core.roles import Role
from tests.support.appliances import provisioned_agent, refreshed, wait_online
from tests.support.browser import sign_in
from tests.support.users import PASSWORD
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

WRONG_PASSWORD = "Not-the-camera-pass-123"
UNAUTHORIZED = "Failed to get SDP description: 401 Unauthorized; with the result code: 401"
NOT_H264 = "Camera did not provide an H264 encoded stream"


def camera(name: str, url: str, user: str = "", password: str = ""):
    from datasources.models import DataSource

    source = DataSource(name=name, url=url)
    source.set_credentials(user, password)
    source.save()
    return source


def choose_and_test(page, name: str, appliance: str) -> None:
    row = page.get_by_role("row").filter(has_text=name)
    place = row.get_by_label(f"Test {name} from")
    place.select_option(label=appliance)
    # A live region re-read in between would reset the choice: make sure it stands.
    expect(place.locator("option:checked")).to_have_text(appliance)
    row.get_by_role("button", name="Test stream").click()


def secrets_anywhere(agent, secret: str) -> list[str]:
    """Where ``secret`` shows up among the agent's files (logs, outbox, state) and its output."""
    from devices.models import DeviceLog

    found = [
        str(path)
        for path in agent.log_path.parent.rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    ]
    if DeviceLog.objects.filter(message__contains=secret).exists():
        found.append("the console's device log")
    return found


@pytest.mark.browser
def test_streams_are_tested_from_the_chosen_appliance(
    make_agent,
    live_stack,
    rtsp_server,
    page,
    make_user,
):
    from datasources.models import StreamCheck
    from devices.models import DeviceLog

    device, agent = provisioned_agent(make_agent, "cam-gateway", live_stack.url)
    user, secret = rtsp_server.user, rtsp_server.password
    cameras = [
        camera("open-cam", rtsp_server.url("open")),
        camera("auth-cam", rtsp_server.url("auth"), user, secret),
        camera("wrong-cam", rtsp_server.url("auth"), user, WRONG_PASSWORD),
        camera("h265-cam", rtsp_server.url("h265")),
    ]
    operator = make_user(Role.OPERATOR)
    sign_in(page, live_stack.url, operator.username, PASSWORD)
    page.goto(f"{live_stack.url}/datasources/")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.wait_for_load_state("networkidle")  # the regions' first re-read has landed
    for source in cameras:
        choose_and_test(page, source.name, "cam-gateway")

    summary = page.get_by_test_id
    expect(summary("check-summary-open-cam")).to_contain_text(
        "H264 768x576 at 30 fps", timeout=30_000
    )
    expect(summary("check-summary-auth-cam")).to_contain_text("H264 768x576", timeout=30_000)
    expect(summary("check-summary-wrong-cam")).to_have_text(UNAUTHORIZED, timeout=30_000)
    expect(summary("check-summary-h265-cam")).to_have_text(NOT_H264, timeout=30_000)
    for source in cameras:
        expect(summary(f"check-place-{source.name}")).to_contain_text("Tested from cam-gateway")
    expect(page.get_by_role("img", name="Snapshot of open-cam at the check")).to_be_visible()

    checks = {check.data_source.name: check for check in StreamCheck.objects.all()}
    assert {check.device_id for check in checks.values()} == {device.pk}
    assert {check.ran_on for check in checks.values()} == {"appliance"}
    assert bytes(checks["open-cam"].snapshot)[:3] == b"\xff\xd8\xff"
    assert (checks["open-cam"].codec, checks["open-cam"].width) == ("h264", 768)
    assert "credentials" in checks["wrong-cam"].hint

    # The appliance ran them (its log says so, and reached the console), and nothing it or the
    # console wrote anywhere holds a camera password.
    for check in checks.values():
        wait_for(
            lambda check=check: DeviceLog.objects.filter(
                device=device, message__startswith=f"Stream check {check.pk} "
            ).exists(),
            30,
            f"the appliance's log line about check {check.pk} on the console",
        )
    for password in (secret, WRONG_PASSWORD):
        assert secrets_anywhere(agent, password) == []
        assert password not in live_stack.log()
        assert password not in page.content()


def test_a_check_whose_appliance_stops_answering_fails_and_the_next_one_works(
    make_agent,
    live_stack,
    rtsp_server,
    operator,
):
    from datasources.checks import check_place, start_check
    from datasources.models import StreamCheck

    device, agent = provisioned_agent(make_agent, "sleepy", live_stack.url)
    source = camera("sleepy-cam", rtsp_server.url("auth"), rtsp_server.user, rtsp_server.password)

    os.killpg(agent.process.pid, signal.SIGSTOP)  # hung: its connection stays, nothing answers
    try:
        # Still ONLINE (its lease runs a few seconds more): the check is accepted and sent.
        lost = start_check(source, operator, check_place(device.device_id))
        failed = wait_for(
            lambda: StreamCheck.objects.filter(pk=lost.pk, status="FAILED").first(),
            30,
            "the check to fail when the appliance goes offline",
        )
    finally:
        os.killpg(agent.process.pid, signal.SIGCONT)
    assert failed.message == "The appliance sleepy went offline before it answered."
    assert refreshed(device).aggregated == "OFFLINE"

    wait_online(device)
    check = start_check(source, operator, check_place(device.device_id))
    done = wait_for(
        lambda: StreamCheck.objects.exclude(status="PENDING").filter(pk=check.pk).first(),
        30,
        "the next check's result",
    )
    assert done.status == "SUCCEEDED", done.message
    assert done.codec == "h264" and done.tested_from == "Tested from sleepy"
    # Whatever the appliance still answered for the lost check changed nothing.
    wait_for(lambda: agent.status().get("queued_reports") == 0, 30, "the outbox to drain")
    lost.refresh_from_db()
    assert (lost.status, lost.message) == ("FAILED", failed.message)
    assert secrets_anywhere(agent, rtsp_server.password) == []
