"""Camera streams end to end: the real stack, a real RTSP server, a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.roles import Role
from tests.support.browser import sign_in
from tests.support.database import all_rows_as_text
from tests.support.users import PASSWORD

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WRONG_PASSWORD = "Not-the-camera-pass-123"


def _add_camera(page, base: str, name: str, url: str, user: str = "", password: str = "") -> None:
    page.goto(base + "/datasources/add/")
    page.get_by_role("textbox", name="Name", exact=True).fill(name)
    page.get_by_role("textbox", name="URL", exact=True).fill(url)
    if user:
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(f"Camera stream {name} added.")).to_be_visible()


def _test_stream(page, name: str) -> None:
    # "Live" once the list re-read its rows after connecting: a click before that could land on
    # a row about to be replaced.
    expect(page.locator("#live-status")).to_have_text("Live")
    row = page.get_by_role("row").filter(has_text=name)
    row.get_by_role("button", name="Test stream").click()
    expect(page.locator("#live-status")).to_have_text("Live")


def test_stream_checks_show_results_live(live_stack, rtsp_server, page, make_user):
    operator = make_user(Role.OPERATOR)
    sign_in(page, live_stack.url, operator.username, PASSWORD)
    base = live_stack.url
    _add_camera(page, base, "open-cam", rtsp_server.url("open"))
    _add_camera(
        page, base, "auth-cam", rtsp_server.url("auth"), rtsp_server.user, rtsp_server.password
    )
    _add_camera(page, base, "h265-cam", rtsp_server.url("h265"))

    for name in ("open-cam", "auth-cam", "h265-cam"):
        _test_stream(page, name)
    expect(page.get_by_test_id("check-summary-open-cam")).to_contain_text(
        "H264 768x576 at 30 fps", timeout=30_000
    )
    expect(page.get_by_test_id("check-summary-auth-cam")).to_contain_text(
        "H264 768x576", timeout=30_000
    )
    expect(page.get_by_test_id("check-summary-h265-cam")).to_have_text(
        "Camera did not provide an H264 encoded stream", timeout=30_000
    )
    expect(page.get_by_role("img", name="Snapshot of open-cam at the check")).to_be_visible()

    # A wrong password: the check says so in Panorama's words.
    page.get_by_role("row").filter(has_text="auth-cam").get_by_role("link", name="Edit").click()
    page.get_by_label("Password", exact=True).fill(WRONG_PASSWORD)
    page.get_by_role("button", name="Save").click()
    _test_stream(page, "auth-cam")
    expect(page.get_by_test_id("check-summary-auth-cam")).to_have_text(
        "Failed to get SDP description: 401 Unauthorized; with the result code: 401",
        timeout=30_000,
    )

    # Nothing stored or logged shows a password in plaintext.
    stored = all_rows_as_text()
    logged = live_stack.log()
    for secret in (rtsp_server.password, WRONG_PASSWORD):
        assert secret not in stored
        assert secret not in logged
        assert secret not in page.content()
