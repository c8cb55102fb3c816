"""The agent process (``python -m edge_agent run``) where no console is needed.

The whole agent against the real console (provisioning from the USB directory, the link, log
shipping, REBOOT and OTA jobs, revocation, a clean stop on SIGTERM, HTTPS with a private CA) is
tested in tests/e2e/test_agent_link.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import edge_agent
from tests.support.waiting import wait_for

SOURCE_ROOT = Path(edge_agent.__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def start_agent(usb: Path, data: Path) -> subprocess.Popen:
    env = {**os.environ, "VANTAGE_AGENT_USB_DIR": str(usb)}
    env.pop("VANTAGE_AGENT_BOOTSTRAP", None)
    return subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--data-dir", str(data)],
        cwd=SOURCE_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def status(data: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "status", "--json", "--data-dir", str(data)],
        capture_output=True, text=True, timeout=60, cwd=SOURCE_ROOT,
    )  # fmt: skip
    return json.loads(result.stdout)


def test_a_second_agent_on_the_same_data_dir_is_refused(tmp_path):
    usb, data = tmp_path / "usb", tmp_path / "data"
    usb.mkdir()
    first = start_agent(usb, data)
    try:
        wait_for(lambda: status(data)["agent_running"])
        second = subprocess.run(
            [sys.executable, "-m", "edge_agent", "run", "--data-dir", str(data),
             "--usb-dir", str(usb)],
            capture_output=True, text=True, timeout=60, cwd=SOURCE_ROOT,
        )  # fmt: skip
        assert second.returncode == 2
        assert "Another agent is already running" in second.stdout
        first.send_signal(signal.SIGINT)
        assert first.wait(20) == 0
    finally:
        if first.poll() is None:
            first.kill()
        first.wait()
        first.stderr.close()
