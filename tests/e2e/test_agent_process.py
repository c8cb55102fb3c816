"""The whole agent process (``python -m edge_agent run``) against the real console, over HTTP
and over HTTPS with a private CA."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.files.uploadedfile import SimpleUploadedFile

import edge_agent
from devicelink.archive import archive_name, read_archive
from devicelink.releases import build_bundle
from devices.deletion import delete_device
from devices.jobs import create_jobs
from devices.models import DeviceJob
from devices.software import add_image
from tests.support.agent_pieces import (
    console_logs,
    issue,
    refreshed,
)
from tests.support.paths import BASE_DIR
from tests.support.ports import free_port
from tests.support.waiting import http_ok, wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


# --- the whole agent process --------------------------------------------------------------------


def test_provision_link_reboot_ota_revoke_and_stop(make_agent, live_stack, administrator):
    agent = make_agent("lobby-1")
    (agent.usb_dir / "panorama" / "managed_logs").mkdir(parents=True)
    device, archive, _ = issue("lobby-1", live_stack.url)
    agent.start()
    wait_for(lambda: agent.status()["state"] == "waiting_for_archive", 30, "waiting")
    (agent.usb_dir / archive_name("lobby-1")).write_bytes(archive)
    wait_for(lambda: refreshed(device).aggregated == "ONLINE", 30, "ONLINE")
    version = edge_agent.__version__
    wait_for(lambda: refreshed(device).network_status.get("NtpStatus"), 15, "network report")
    device = refreshed(device)
    assert device.current_software == version
    assert device.network_status["NtpStatus"]["NtpServerName"] == "pool.ntp.org"
    occ = (agent.usb_dir / "panorama" / "occ.log").read_text()
    assert "Generated the device key" in occ and "Provisioned: this appliance is lobby-1" in occ
    wait_for(lambda: console_logs(device, message__contains="Provisioned: this appliance"), 15,
             "the agent's log lines on the console")  # fmt: skip
    wait_for(lambda: agent.status()["connected"], 15, "status: connected")
    info = agent.status()
    assert info["device_id"] == device.device_id and info["running_version"] == version

    def finished(job) -> DeviceJob:
        return wait_for(
            lambda: (done := DeviceJob.objects.get(pk=job.pk)).is_terminal and done,
            60,
            f"job {job.job_id} to finish",
        )

    def history(job) -> list[str]:
        return list(job.events.values_list("status", flat=True))

    # REBOOT: the agent re-executes itself and completes the job after the restart.
    [reboot] = create_jobs([device], "REBOOT", user=administrator)
    reboot = finished(reboot)
    assert reboot.status == "COMPLETED", reboot.reason
    assert history(reboot) == ["PENDING", "IN_PROGRESS", "REBOOTING", "COMPLETED"]
    assert agent.log().count(f"Vantage edge agent {version} starting") == 2
    assert agent.process.poll() is None  # the same process, a new program image
    images = agent.usb_dir / "panorama" / "managed_logs"
    assert list(images.glob("panorama_device_log_v1_*.img"))  # written by the provisioned start

    # OTA: download, verify, install, restart into the next minor version.
    major, minor, _patch = (int(part) for part in version.split("."))
    new_version = f"{major}.{minor + 1}.0"
    bundle = build_bundle(BASE_DIR, new_version)
    upload = SimpleUploadedFile(f"vantage-agent-{new_version}.tar.gz", bundle, "application/gzip")
    add_image(upload, new_version, "", False, administrator)
    [ota] = create_jobs([refreshed(device)], "OTA", image_version=new_version, user=administrator)
    ota = finished(ota)
    assert ota.status == "COMPLETED", ota.reason
    assert history(ota) == [
        "PENDING", "DOWNLOADING", "VERIFYING", "IN_PROGRESS", "REBOOTING", "COMPLETED",
    ]  # fmt: skip
    wait_for(lambda: refreshed(device).current_software == new_version, 30, "the new version")
    # The desired state is sent again after the restart; both jobs are finished: it is applied.
    wait_for(lambda: (d := refreshed(device)).applied_version == d.desired_version == 2, 15,
             "desired state 2 applied")  # fmt: skip
    assert f"device {device.device_id}: protocol error" not in live_stack.log()  # no gaps
    wait_for(lambda: agent.status()["running_version"] == new_version, 15, "status: new version")

    # Deleted on the console: the agent idles and says so.
    delete_device(refreshed(device), administrator)
    wait_for(lambda: agent.status()["state"] == "revoked", 15, "status: revoked")
    assert "reset --full" in (agent.data_dir / "logs" / "agent.log").read_text()
    assert agent.process.poll() is None

    os.killpg(agent.process.pid, signal.SIGTERM)
    assert agent.process.wait(20) == 0
    assert agent.status()["state"] == "stopped"
    assert "Traceback" not in agent.log(), agent.log()[-3000:]


def test_a_stopping_agent_hands_the_console_its_last_reports(make_agent, live_stack):
    """SIGTERM: the applications stop, then what the outbox holds (the stop's own log line
    among it) reaches the console over the still-open link before the process exits."""
    agent = make_agent("lobby-2")
    device, archive, _ = issue("lobby-2", live_stack.url)
    (agent.usb_dir / archive_name("lobby-2")).write_bytes(archive)
    agent.start()
    wait_for(lambda: refreshed(device).aggregated == "ONLINE", 30, "ONLINE")
    wait_for(lambda: agent.status()["connected"], 15, "status: connected")
    os.killpg(agent.process.pid, signal.SIGTERM)
    assert agent.process.wait(20) == 0
    # Already stored when the process is gone: nothing was left for the next start.
    assert console_logs(device, message__contains="The agent is stopping (SIGTERM)."), agent.log()[
        -3000:
    ]
    assert "Stopping: the console has every report." in agent.log()
    assert "not yet acknowledged" not in agent.log()


def make_tls_files(folder: Path) -> None:
    """A private CA (ca.pem) and a server certificate for 127.0.0.1 (server.pem, server.key)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vantage test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
            "127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))


@pytest.fixture
def https_console(tmp_path, live_stack) -> Iterator[tuple[str, Path]]:
    """The console's ASGI app behind TLS with a certificate from a private CA: (URL, CA file)."""
    tls = tmp_path / "tls"
    make_tls_files(tls)
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    env = {**live_stack.env, "CONSOLE_URL": url, "ALLOWED_HOSTS": "127.0.0.1,localhost",
           "CONSOLE_CA_FILE": str(tls / "ca.pem")}  # fmt: skip
    log_path = tmp_path / "https-console.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "console.asgi:application",
             "--host", "127.0.0.1", "--port", str(port), "--lifespan", "off",
             "--ssl-keyfile", str(tls / "server.key"), "--ssl-certfile", str(tls / "server.pem")],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        # uvicorn loads the application before it listens.
        wait_for(lambda: _listening(port) or process.poll() is not None, 60, "uvicorn with TLS")
        assert process.poll() is None, log_path.read_text()
        yield url, tls / "ca.pem"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_an_https_console_with_a_private_ca(make_agent, https_console):
    """The archive's console-ca.pem is what the agent trusts, for provisioning and the link."""
    url, ca_file = https_console
    # Only a client that trusts the private CA gets an answer.
    assert not http_ok(url + "/healthz")
    trusted = ssl.create_default_context(cafile=str(ca_file))
    with urllib.request.urlopen(url + "/healthz", context=trusted, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200
    device, archive, _ = issue("dock-2", url, ca_file=str(ca_file))
    assert read_archive(archive)[1] == ca_file.read_bytes()
    agent = make_agent("dock-2")
    (agent.usb_dir / archive_name("dock-2")).write_bytes(archive)
    agent.start()
    wait_for(lambda: refreshed(device).aggregated == "ONLINE", 60, "ONLINE over https")
    assert refreshed(device).provisioning_status == "SUCCEEDED"
    assert (agent.data_dir / "console-ca.pem").read_bytes() == ca_file.read_bytes()
    wait_for(lambda: agent.status()["connected"], 15, "status: connected")
    assert agent.status()["console_url"] == url
    os.killpg(agent.process.pid, signal.SIGTERM)
    assert agent.process.wait(20) == 0
