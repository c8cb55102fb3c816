"""The Content-Security-Policy holds on every main page in a real browser (core/csp.py; #20).

Chromium reports each refused script, style, image, connection or frame as a
``securitypolicyviolation`` event and a console error; the test collects both on every page it
visits, including the live socket (the "Live" badge) and the actions that used to be inline
handlers (a confirm() before revoking a token, selecting a token shown once).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from applications.models import ApplicationInstance
from core.models import APIToken
from core.roles import Role
from datasources.models import DataSource
from tests.support.browser import sign_in
from tests.support.devices import connected_device
from tests.support.users import PASSWORD

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COLLECT = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__csp.push(`${e.violatedDirective}: ${e.blockedURI || "inline"} (${where})`);
});
"""


def test_every_main_page_keeps_the_content_security_policy(live_stack, page, make_user):
    admin = make_user(Role.ADMINISTRATOR)
    device = connected_device("lobby-1")
    DataSource.objects.create(name="lobby-cam", url="rtsp://10.1.1.1/s")
    instance = ApplicationInstance.objects.create(name="counter", device=device)
    APIToken.issue(user=admin, name="nightly", read_only=True)
    console_errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            console_errors.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.add_init_script(COLLECT)

    def violations() -> list[str]:
        return page.evaluate("window.__csp") + console_errors

    response = page.goto(live_stack.url + "/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    sign_in(page, live_stack.url, admin.username, PASSWORD)
    expect(page.locator("#live-status")).to_have_text("Live")  # the socket: connect-src
    assert violations() == [], f"/: {violations()}"
    pages = [
        ("/devices/", True),
        (f"/devices/{device.device_id}/", True),
        ("/datasources/", True),
        ("/applications/", True),
        ("/applications/deploy/", False),
        (f"/applications/{instance.application_instance_id}/", True),
        ("/packages/", False),
        ("/settings/", False),
        ("/settings/audit/", False),
        ("/settings/users/", False),
        ("/settings/tokens/", False),
        ("/settings/access-keys/", False),
        ("/api/docs/", False),
    ]
    for path, live in pages:
        page.goto(live_stack.url + path)
        page.wait_for_load_state("networkidle")
        if live:
            expect(page.locator("#live-status")).to_have_text("Live")
        assert violations() == [], f"{path}: {violations()}"
        if path == f"/devices/{device.device_id}/":
            # View output: the MJPEG <img> is created by output.js (img-src 'self').
            page.locator("[data-output-toggle]").first.click()
            expect(page.get_by_test_id("output-image")).to_be_attached()
        if path == "/api/docs/":
            expect(page.locator(".swagger-ui").first).to_be_visible()

    # A token shown once: focusing selects it (data-select-on-focus, no onfocus handler).
    page.goto(live_stack.url + "/settings/tokens/add/")
    page.get_by_label("User").select_option(label=admin.username)
    page.get_by_label("Name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("token-text")
    token.focus()
    assert page.evaluate("window.getSelection().toString() || document.activeElement.value")
    assert page.evaluate(
        "document.activeElement.selectionStart === 0 && "
        "document.activeElement.selectionEnd === document.activeElement.value.length"
    )
    # Revoking asks first (data-confirm, no onsubmit handler): dismissed, nothing happens.
    page.goto(live_stack.url + "/settings/tokens/")
    asked: list[str] = []

    def answer(dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, False))
    page.get_by_role("row", name="nightly").get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("row", name="nightly")).to_be_visible()
    assert asked == ["Revoke token nightly? Scripts using it stop working at once."]
    page.once("dialog", lambda dialog: answer(dialog, True))
    page.get_by_role("row", name="nightly").get_by_role("button", name="Revoke").click()
    page.wait_for_load_state("networkidle")
    assert len(asked) == 2
    assert violations() == [], violations()
