"""A real browser: Debian's Chromium through Playwright, and signing in (a pytest plugin)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.paths import ARTIFACTS_DIR, ASYNC_UNSAFE
from tests.support.users import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser():
    # Per module, not per session: while Playwright's sync API is running, its event loop
    # occupies the main thread, and later tests that call asyncio.run() (the agent's) would
    # fail; pytest-django runs those last, after every browser module has finished.
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: './vantage test' installs Debian's chromium package.")
    # Playwright's sync API runs an event loop in the test thread; the ORM calls tests make next
    # to it are still plain synchronous code, so Django's async guard must stand aside.
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.pop(ASYNC_UNSAFE, None)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    failed = any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if failed:
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        path = ARTIFACTS_DIR / f"{request.node.name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot of the failed browser test: {path}")
    context.close()


def sign_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base_url + "/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base_url + "/")
