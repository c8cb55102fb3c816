"""The whole agent process (``python -m edge_agent run``) against a fake console.

Provisioning from the USB directory, the link, log shipping, a REBOOT job and an OTA update in
development mode (the agent re-executes itself, then runs the installed version), revocation,
and a clean stop on SIGTERM.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import edge_agent
from devicelink.messages import Desired, JobSpec
from devicelink.releases import build_bundle, sign_release
from edge_agent.tests.fake_console import FakeConsole
from edge_agent.tests.support import wait_until

SOURCE_ROOT = Path(edge_agent.__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture
def console():
    console = FakeConsole()
    console.start_in_thread()
    yield console
    console.stop_thread()


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


def job_statuses(device, job_id: str) -> list[str]:
    return [b["status"] for b in device.bodies("job") if b["job_id"] == job_id]


def test_provision_link_reboot_ota_revoke_and_stop(console, tmp_path):
    usb, data = tmp_path / "usb", tmp_path / "data"
    (usb / "panorama" / "managed_logs").mkdir(parents=True)
    device = console.add_device("lobby-1")
    process = start_agent(usb, data)
    try:
        wait_until(lambda: status(data)["state"] == "waiting_for_archive")
        (usb / "certificates-omni_lobby-1.zip").write_bytes(console.archive(device))
        wait_until(lambda: device.hellos and device.last_seq >= 2)
        assert device.bodies("software")[0] == {"version": "0.1.0"}
        assert device.bodies("network")[0]["NtpStatus"]["NtpServerName"] == "pool.ntp.org"
        occ = (usb / "panorama" / "occ.log").read_text()
        assert "Generated the device key" in occ and "Provisioned: this appliance is lobby-1" in occ
        wait_until(lambda: any("Provisioned: this appliance" in e["message"]
                               for b in device.bodies("logs") for e in b["entries"]))  # fmt: skip
        wait_until(lambda: status(data)["connected"])
        info = status(data)
        assert info["device_id"] == device.device_id and info["running_version"] == "0.1.0"

        # REBOOT: the agent re-executes itself and completes the job after the restart.
        reboot = JobSpec(job_id="job-reboot", job_type="REBOOT")
        console.call(console.publish(device, Desired(version=1, jobs=[reboot])))
        wait_until(lambda: job_statuses(device, "job-reboot")[-1:] == ["COMPLETED"], 30)
        assert job_statuses(device, "job-reboot") == ["IN_PROGRESS", "REBOOTING", "COMPLETED"]
        assert len({hello.boot_id for hello in device.hellos}) == 2
        assert process.poll() is None  # the same process id, a new program image

        # OTA: download, verify, install, restart into 0.2.0.
        data_bundle = build_bundle(SOURCE_ROOT, "0.2.0")
        digest = hashlib.sha256(data_bundle).hexdigest()
        console.bundles["/agent/v1/software/0.2.0"] = data_bundle
        ota = JobSpec(job_id="job-ota", job_type="OTA", image_version="0.2.0",
                      bundle_path="/agent/v1/software/0.2.0", sha256=digest,
                      signature=sign_release(console.release_key, "0.2.0", digest),
                      size=len(data_bundle))  # fmt: skip
        console.call(console.publish(device, Desired(version=2, jobs=[reboot, ota])))
        wait_until(lambda: job_statuses(device, "job-ota")[-1:] == ["COMPLETED"], 60)
        assert job_statuses(device, "job-ota") == ["DOWNLOADING", "VERIFYING", "IN_PROGRESS",
                                                   "REBOOTING", "COMPLETED"]  # fmt: skip
        assert device.hellos[-1].software_version == "0.2.0"
        assert device.bodies("software")[-1] == {"version": "0.2.0"}
        # Desired state 2 is re-sent after the restart; both jobs are finished, so it is applied.
        wait_until(lambda: device.bodies("applied")[-1:] == [{"version": 2}])
        assert device.gaps == 0
        wait_until(lambda: status(data)["running_version"] == "0.2.0")

        # Deleted on the console: the agent idles and says so.
        console.call(console.revoke(device))
        wait_until(lambda: status(data)["state"] == "revoked")
        assert "reset --full" in (data / "logs" / "agent.log").read_text()
        assert process.poll() is None

        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        assert status(data)["state"] == "stopped"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr = process.stderr.read().decode() if process.stderr else ""
        process.stderr.close()
    assert "Traceback" not in stderr, stderr[-3000:]


def test_a_second_agent_on_the_same_data_dir_is_refused(tmp_path):
    usb, data = tmp_path / "usb", tmp_path / "data"
    usb.mkdir()
    first = start_agent(usb, data)
    try:
        wait_until(lambda: status(data)["agent_running"])
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


def test_an_https_console_with_a_private_ca(tmp_path):
    """The archive's console-ca.pem is what the agent trusts, for provisioning and the link."""
    console = FakeConsole(tls_dir=tmp_path / "tls")
    console.start_in_thread()
    usb, data = tmp_path / "usb", tmp_path / "data"
    usb.mkdir()
    device = console.add_device("dock-2")
    (usb / "certificates-omni_dock-2.zip").write_bytes(console.archive(device))
    process = start_agent(usb, data)
    try:
        assert console.url.startswith("https://")
        wait_until(lambda: device.hellos and device.last_seq >= 2)
        assert (data / "console-ca.pem").read_bytes() == console.ca_pem
        wait_until(lambda: status(data)["connected"])
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stderr.close()
        console.stop_thread()
