"""The README's run command, as a newcomer uses it: start, sign in, stop with Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import psutil
import pytest
from playwright.sync_api import expect

from tests.support.browser import sign_in
from tests.support.paths import ASYNC_UNSAFE, BASE_DIR
from tests.support.ports import free_port
from tests.support.waiting import http_ok, wait_for

pytestmark = [pytest.mark.slow]


def _start(tmp_path: Path, **extra_env: str) -> tuple[subprocess.Popen, Path, str]:
    port = free_port()
    log_path = tmp_path / "up.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "CONSOLE_URL",
            "LIVE_RELAY_URL",
            ASYNC_UNSAFE,
        }
    }
    env["VANTAGE_VAR_DIR"] = str(tmp_path / "var")
    env.update(extra_env)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(BASE_DIR / "vantage"), "up", "--port", str(port)],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # like a terminal: the test signals it, not its children
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"run command exited early:\n{log_path.read_text()[-3000:]}")
        return "Vantage is running at" in log_path.read_text(errors="replace")

    wait_for(ready, timeout=120, message="the run command to report the console running")
    return process, log_path, url


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _stop_and_check_nothing_left(process: subprocess.Popen, sig: int) -> None:
    children = _descendants(process.pid)
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "uvicorn" in names and "worker" in names and "beat" in names, names
    assert "edge_agent run" in names, "the local appliance was not started: " + names
    process.send_signal(sig)
    process.wait(timeout=60)
    assert process.returncode == 0
    _gone, alive = psutil.wait_procs(children, timeout=15)
    assert not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], alive


@pytest.mark.browser
def test_run_command_serves_the_console_and_ctrl_c_stops_everything(tmp_path, browser):
    process, log_path, url = _start(tmp_path)
    try:
        log = log_path.read_text()
        match = re.search(r"User name: (\S+)\s+Password: (\S+)", log)
        assert match, log[-3000:]
        usb_dir = tmp_path / "var" / "appliance" / "usb"
        assert f"save the downloaded archive into {usb_dir}" in log, log[-3000:]
        assert usb_dir.is_dir()
        assert http_ok(url + "/healthz")
        page = browser.new_page()
        sign_in(page, url, match.group(1), match.group(2))
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(page.locator("#live-status")).to_have_text("Live", timeout=15_000)
        # Embedded defaults: a shell process reaches the browser through the server's relay.
        subprocess.run(
            [str(BASE_DIR / ".venv/bin/python"), "manage.py", "shell", "-c",
             "from devices.models import Device; Device.objects.create(name='first')"],
            cwd=BASE_DIR, env={**os.environ, "VANTAGE_VAR_DIR": str(tmp_path / "var"),
                               "CONSOLE_URL": url, "DATABASE_URL": "", "REDIS_URL": ""},
            check=True, timeout=60,
        )  # fmt: skip
        expect(page.get_by_test_id("devices-total")).to_have_text("1")
        page.close()
        _stop_and_check_nothing_left(process, signal.SIGINT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def test_second_start_keeps_the_administrator_and_sigterm_stops_everything(tmp_path):
    first, log_path, _url = _start(tmp_path)
    _stop_and_check_nothing_left(first, signal.SIGINT)
    second, log_path, _url = _start(tmp_path)
    try:
        assert "Password:" not in log_path.read_text()
        assert "An administrator exists already" in log_path.read_text()
        _stop_and_check_nothing_left(second, signal.SIGTERM)
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)


def test_console_behind_an_https_proxy_becomes_ready(tmp_path):
    # Production shape: TLS ends at a proxy and the console knows only its public name. The
    # launcher's local plain-HTTP probe must still get through (no redirect, the right host).
    process, _log_path, _url = _start(
        tmp_path,
        CONSOLE_URL="https://vantage.example.test",
        ALLOWED_HOSTS="vantage.example.test",
        SECRET_KEY="k" * 64,
    )
    try:
        _stop_and_check_nothing_left(process, signal.SIGINT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
