"""The real stack (uvicorn, Celery worker and beat) with a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.models import ServiceHeartbeat
from core.roles import Role
from tests.support.browser import sign_in
from tests.support.users import PASSWORD
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_dashboard_number_changes_live_when_another_process_creates_a_record(
    live_stack, page, make_user
):
    user = make_user(Role.VIEWER)
    sign_in(page, live_stack.url, user.username, PASSWORD)
    expect(page.locator("#live-status")).to_have_text("Live")
    devices = page.get_by_test_id("devices-total")
    cameras = page.get_by_test_id("cameras-total")
    expect(devices).to_have_text("0")

    # Another process: a management shell, as an operator or a script would.
    live_stack.manage(
        "shell", "-c", "from devices.models import Device; Device.objects.create(name='gate-1')"
    )
    expect(devices).to_have_text("1")
    expect(page.get_by_test_id("devices-AWAITING_PROVISIONING")).to_have_text("1")

    live_stack.manage(
        "shell",
        "-c",
        "from datasources.models import DataSource;"
        "DataSource.objects.create(name='lobby', url='rtsp://10.1.1.1/s')",
    )
    expect(cameras).to_have_text("1")
    assert page.url == live_stack.url + "/"  # no reload happened


def test_worker_runs_tasks_sent_from_another_process(live_stack):
    from console.tasks import record_worker_heartbeat

    ServiceHeartbeat.objects.filter(name="worker").delete()
    record_worker_heartbeat.delay()
    wait_for(
        lambda: ServiceHeartbeat.objects.filter(name="worker").exists(),
        timeout=30,
        message="the Celery worker to run the task",
    )


def test_viewer_sees_no_administration(live_stack, page, make_user):
    user = make_user(Role.VIEWER)
    sign_in(page, live_stack.url, user.username, PASSWORD)
    page.goto(live_stack.url + "/settings/users/")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()


def test_administrator_creates_a_token_shown_once(live_stack, page, make_user):
    admin = make_user(Role.ADMINISTRATOR)
    sign_in(page, live_stack.url, admin.username, PASSWORD)
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_role("link", name="Create token").click()
    page.get_by_label("User").select_option(label=admin.username)
    page.get_by_label("Name").fill("nightly report")
    page.get_by_role("button", name="Create token").click()
    token_text = page.get_by_test_id("token-text").input_value()
    assert token_text.startswith("vtg_")
    page.get_by_role("link", name="Done").click()
    expect(page.get_by_text("nightly report")).to_be_visible()
    assert token_text not in page.content()
