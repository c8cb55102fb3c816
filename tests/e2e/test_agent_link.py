"""The edge agent's provisioning, link client and process against the real console.

The console is the live stack (uvicorn + Celery worker + beat on the test database, devices
heartbeating every second with a 4 s lease). ``Provisioner`` and ``LinkClient`` run in this
process with real sockets; the last tests run the whole agent (``python -m edge_agent run``).
The console is made to act the way it does in production: jobs and ``desired.publish`` for
desired state, ``delete_device`` for revocation, a second connection of the same device for
replacement, a wrong key for 401, and ``TcpProxy`` between them for cut and silent networks.

``Provisioner`` and ``LinkClient`` run in event loops of their own threads (``run_async``,
``LinkLoop``), so that the test's thread stays synchronous: it uses the ORM like any other
process of the console and waits on conditions with ``wait_for``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

import edge_agent
from conftest import BASE_DIR, free_port, http_ok, wait_for
from devicelink import LINK_PATH, PROVISION_PATH, auth
from devicelink.archive import ArchiveError, archive_name, read_archive
from devicelink.auth import sign_request
from devicelink.messages import Desired, Health
from devicelink.network import NetworkStatus
from devicelink.releases import build_bundle
from devices.deletion import delete_device
from devices.desired import publish
from devices.jobs import create_jobs
from devices.models import Device, DeviceJob, DeviceLog, ProvisioningCredential
from devices.provisioning import issue_archive
from devices.software import add_image
from devices.tests.agent_support import provisioned_device
from edge_agent.config import AgentPaths
from edge_agent.console_http import post_json, url_for
from edge_agent.identity import load_device_key, load_identity
from edge_agent.link import LinkClient, link_uri
from edge_agent.network import DryRunApplier
from edge_agent.outbox import Outbox, open_database
from edge_agent.provision import Provisioner, archive_files, provision_body
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

NETWORK = {
    "Ethernet0": {"ConnectionType": "DHCP"},
    "Ethernet1": {
        "ConnectionType": "STATIC_IP",
        "StaticIpConnectionInfo": {
            "IpAddress": "192.168.1.20",
            "Mask": "255.255.255.0",
            "DefaultGateway": "192.168.1.1",
            "Dns": ["192.168.1.1"],
        },
    },
    "Ntp": {"NtpServers": ["time.example.com"]},
}


# --- the console's side: devices, archives, state ---------------------------------------------


def issue(name: str, console_url: str, *, network: dict | None = None, ca_file: str = ""):
    """What the setup wizard does: create the device and hand out its archive."""
    device = Device.objects.create(name=name, network_config=network or {})
    return device, *reissue(device, console_url, ca_file=ca_file)


def reissue(device, console_url: str, *, ca_file: str = ""):
    """A new archive for ``device``, naming ``console_url`` (and carrying ``ca_file``)."""
    original = settings.CONSOLE_URL, settings.CONSOLE_CA_FILE
    settings.CONSOLE_URL, settings.CONSOLE_CA_FILE = console_url, ca_file
    try:
        return issue_archive(device)
    finally:
        settings.CONSOLE_URL, settings.CONSOLE_CA_FILE = original


def refreshed(device):
    return Device.objects.with_aggregated_status().get(pk=device.pk)


def console_logs(device, **filters) -> list[str]:
    """The messages the console stored for ``device``, oldest first."""
    rows = DeviceLog.objects.filter(device=device, **filters).order_by("id")
    return list(rows.values_list("message", flat=True))


def log_entries(*messages: str) -> dict:
    return {"entries": [{"time": time.time(), "stream": "syslog", "message": m} for m in messages]}


@pytest.fixture
def console_proxy(live_stack) -> Iterator[TcpProxy]:
    target = urlsplit(live_stack.url)
    proxy = TcpProxy(target.hostname, target.port)
    yield proxy
    proxy.close()


# --- provisioning: the agent's Provisioner against POST /agent/v1/provision --------------------


def _provisioner(paths: AgentPaths, usb: Path, **extra) -> Provisioner:
    options = {
        "software_version": "1.0.0",
        "serial_number": "123456789012",
        "applier": DryRunApplier(),
        "network_status": lambda servers: NetworkStatus(),
        "interfaces": lambda: {"Ethernet0": "eth0", "Ethernet1": "eth1"},
        "poll_s": 0.02,
        "retry_base_s": 0.01,
        "retry_cap_s": 0.05,
        **extra,
    }
    return Provisioner(paths, usb, **options)


def run_async(coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
    """``asyncio.run`` in a thread of its own, with a timeout.

    Not in the test's thread: once a test of the session has driven the browser, Playwright's
    event loop runs there, and asyncio.run() refuses to start inside a running loop.
    """
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coroutine, timeout)).result()


def _provision(provisioner: Provisioner):
    return run_async(provisioner.wait(asyncio.Event()))


def _scan(provisioner: Provisioner):
    return run_async(provisioner.scan_once(asyncio.Event()))


def test_a_valid_archive_provisions_once_with_a_private_key_file(tmp_path, live_stack, caplog):
    caplog.set_level(logging.INFO)
    paths, usb = AgentPaths(tmp_path / "data"), tmp_path / "usb"
    usb.mkdir()
    device, archive, credential = issue("lobby-1", live_stack.url, network=NETWORK)
    (usb / archive_name("lobby-1")).write_bytes(archive)
    (usb / "notes.zip").write_bytes(b"not an archive")  # not the archive's name: ignored

    identity = _provision(_provisioner(paths, usb))

    assert identity is not None and identity.device_id == device.device_id
    # The console's own figures (DEVICE_HEARTBEAT_S=1, DEVICE_LEASE_S=4 on the live stack).
    assert (identity.device_name, identity.heartbeat_s, identity.lease_s) == ("lobby-1", 1, 4)
    assert identity.console_url == live_stack.url
    assert load_identity(paths) == identity
    key = load_device_key(paths)
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600
    # What the console made of the request (docs/protocol.md): it verified the proof, stored
    # the key and the appliance's facts, and used the credential up.
    device = refreshed(device)
    assert device.public_key == auth.public_key_b64(key)
    assert device.provisioning_status == "PENDING"
    assert (device.serial_number, device.current_software) == ("123456789012", "1.0.0")
    assert device.device_type == "PANORAMA_APPLIANCE"
    assert device.network_status["Ethernet0Status"]["IpAddress"] == "--"
    credential.refresh_from_db()
    assert credential.used_at is not None
    assert console_logs(device, message__startswith="Provisioned with archive") == [
        f"Provisioned with archive {credential.credential_id[:8]}: serial 123456789012, "
        "software 1.0.0."
    ]
    # The archive's network settings (the device's network_config) reached the appliance.
    stored = json.loads(paths.network.read_text())
    assert stored["Ntp"]["NtpServers"] == ["time.example.com"]
    text = caplog.text
    assert "Ethernet1 (eth1): static IP 192.168.1.20, mask 255.255.255.0" in text
    assert "Provisioned: this appliance is lobby-1" in text


def test_a_refused_archive_is_not_retried_until_a_different_one_appears(
    tmp_path, live_stack, caplog
):
    caplog.set_level(logging.INFO)
    paths, usb = AgentPaths(tmp_path / "data"), tmp_path / "usb"
    usb.mkdir()
    device, used, credential = issue("lobby-1", live_stack.url)
    # As if another appliance had presented this archive first: the console answers 403.
    ProvisioningCredential.objects.filter(pk=credential.pk).update(used_at=timezone.now())
    (usb / archive_name("lobby-1")).write_bytes(used)

    def refusals() -> int:
        return len(console_logs(device, message__startswith="Provisioning refused"))

    provisioner = _provisioner(paths, usb)
    assert _scan(provisioner) is None
    assert paths.refused.exists()
    assert "already used" in caplog.text and refusals() == 1
    for _ in range(5):  # several polls later: no new attempt with the same archive
        assert _scan(provisioner) is None
    assert refusals() == 1
    # A restarted agent remembers the refusal too.
    assert _scan(_provisioner(paths, usb)) is None
    assert refusals() == 1

    fresh, _ = reissue(device, live_stack.url)
    (usb / archive_name("lobby-1")).write_bytes(fresh)
    identity = _provision(provisioner)
    assert identity is not None and identity.device_id == device.device_id
    assert refusals() == 1
    assert refreshed(device).public_key == auth.public_key_b64(load_device_key(paths))


def test_expired_corrupt_and_foreign_archives_say_why(tmp_path, live_stack, caplog):
    caplog.set_level(logging.INFO)
    paths, usb = AgentPaths(tmp_path / "data"), tmp_path / "usb"
    usb.mkdir()
    device, archive, credential = issue("lobby-1", live_stack.url)
    (usb / "certificates-omni_old.zip").write_bytes(archive)
    (usb / "certificates-omni_broken.zip").write_bytes(b"PK\x03\x04 truncated download")
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as foreign:
        foreign.writestr("vantage-device.json", json.dumps({"format": "panorama/9"}))
    (usb / "certificates-omni_foreign.zip").write_bytes(other.getvalue())
    assert len(archive_files(usb)) == 3

    # The console's archive is valid for 5 minutes; this appliance's clock is an hour ahead.
    ahead = _provisioner(paths, usb, now=lambda: time.time() + 3600)
    assert _scan(ahead) is None

    # Nothing reached the console: the credential is unused, nothing was logged for the device.
    credential.refresh_from_db()
    assert credential.used_at is None
    assert refreshed(device).provisioning_status == "AWAITING_PROVISIONING"
    assert console_logs(device) == []
    assert not paths.key.exists()
    text = caplog.text
    assert "certificates-omni_old.zip: The configuration archive expired at " in text
    assert "; download a new one from the console." in text
    assert "certificates-omni_broken.zip cannot be used: The file is not a ZIP archive" in text
    assert "has format 'panorama/9'; this agent reads vantage-device-archive/1" in text
    with pytest.raises(ArchiveError):
        read_archive(b"garbage")


def test_an_unreachable_console_is_retried_while_the_archive_is_valid(tmp_path, live_stack, caplog):
    """The appliance is powered on before the console can be reached at the archive's URL."""
    caplog.set_level(logging.INFO)
    paths, usb = AgentPaths(tmp_path / "data"), tmp_path / "usb"
    usb.mkdir()
    port = free_port()  # nothing listens here yet: connection refused
    device, archive, _ = issue("lobby-1", f"http://127.0.0.1:{port}")
    (usb / archive_name("lobby-1")).write_bytes(archive)
    provisioner = _provisioner(paths, usb)
    target = urlsplit(live_stack.url)
    proxy: TcpProxy | None = None

    async def main():
        nonlocal proxy
        task = asyncio.create_task(provisioner.wait(asyncio.Event()))
        deadline = time.monotonic() + 20
        while provisioner.retry.attempt < 4:  # several attempts failed
            assert time.monotonic() < deadline and not task.done(), "no retries"
            await asyncio.sleep(0.01)
        proxy = TcpProxy(target.hostname, target.port, port=port)  # the console comes up
        return await asyncio.wait_for(task, 20)

    try:
        identity = run_async(main(), 60)
    finally:
        if proxy is not None:
            proxy.close()
    assert identity is not None and identity.device_id == device.device_id
    assert refreshed(device).public_key == auth.public_key_b64(load_device_key(paths))
    unreachable = f"Cannot reach the console at http://127.0.0.1:{port}{PROVISION_PATH}"
    assert caplog.text.count(unreachable) == 1  # said once, not on every retry


def test_the_provision_body_matches_the_protocol_and_the_console_takes_it(live_stack):
    device, archive, credential = issue("lobby-1", live_stack.url)
    config, _ = read_archive(archive)
    key = auth.generate_private_key()
    body = provision_body(config, key, serial_number="000000000042", software_version="0.1.0",
                          network_status=NetworkStatus())  # fmt: skip
    assert set(body) == {"device_id", "credential_id", "provisioning_token", "public_key",
                         "proof", "serial_number", "software_version", "device_type",
                         "network_status"}  # fmt: skip
    assert body["credential_id"] == credential.credential_id
    assert credential.matches(body["provisioning_token"])
    assert body["network_status"]["Ethernet0Status"]["IpAddress"] == "--"
    auth.verify_provision_proof(body["public_key"], body["proof"], device.device_id,
                                credential.credential_id)  # fmt: skip

    answer = post_json(url_for(config.console_url, PROVISION_PATH), body, None)
    assert answer.status == 200, answer.document
    assert answer.document["device_id"] == device.device_id
    device = refreshed(device)
    assert device.public_key == body["public_key"] and device.serial_number == "000000000042"
    # The same body again: the credential worked once.
    again = post_json(url_for(config.console_url, PROVISION_PATH), body, None)
    assert again.status == 403 and "already used" in again.error


# --- the link: LinkClient against GET /agent/v1/link ------------------------------------------


class LinkLoop:
    """LinkClients running in an event loop of their own thread, under ``asyncio.run``."""

    def __init__(self, make_clients: Callable[[], list[LinkClient]], timeout: float) -> None:
        self._make = make_clients
        self._timeout = timeout
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.clients: list[LinkClient] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        assert self._started.wait(10), "the link loop did not start"
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # handed to the test's thread by join()
            self._error = exc
            self._started.set()

    async def _run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.clients = self._make()
        self._started.set()
        runs = asyncio.gather(*(client.run() for client in self.clients))
        await asyncio.wait_for(runs, self._timeout)

    @property
    def client(self) -> LinkClient:
        return self.clients[0]

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)`` in the loop's thread (awaited if it is a coroutine); its result."""

        async def inside():
            result = func(*args)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(inside(), self.loop).result(30)

    def finished(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float = 15) -> None:
        """Wait for every client's ``run()`` to return; re-raise what went wrong in there."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the link clients did not stop"
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(self._stop_all)
        self.join()

    def _stop_all(self) -> None:
        for client in self.clients:
            client.stop()


def link_client(console_url: str, device, key, outbox: Outbox, **extra: Any) -> LinkClient:
    options = {
        "console_url": console_url,
        "device_id": device.device_id,
        "private_key": key,
        "outbox": outbox,
        "software_version": "1.2.3",
        "health": lambda: Health(cpu_percent=5.0),
        "heartbeat_s": 0.1,
        "backoff_base_s": 0.02,
        "backoff_cap_s": 0.1,
        "serial_number": "123456789012",
        **extra,
    }
    return LinkClient(**options)


def errors_of(errors: list[str]) -> Callable[[LinkClient], None]:
    """An ``on_change`` that keeps every ``last_error`` the client had, in ``errors``."""
    return lambda link: errors.append(link.last_error)


class Links:
    """Starts LinkClients for a test and stops whatever is still running at its end."""

    def __init__(self) -> None:
        self.started: list[LinkLoop] = []

    def start(self, *args: Any, timeout: float = 90, **options: Any) -> LinkLoop:
        """One client: ``start(console_url, device, key, outbox, **LinkClient options)``."""
        return self.start_many(lambda: [link_client(*args, **options)], timeout)

    def start_many(self, make: Callable[[], list[LinkClient]], timeout: float = 90) -> LinkLoop:
        self.started.append(LinkLoop(make, timeout))
        return self.started[-1]

    def stop_all(self) -> None:
        for loop in self.started:
            with contextlib.suppress(Exception):
                loop.stop()


@pytest.fixture
def links(live_stack) -> Iterator[Links]:
    started = Links()
    yield started
    started.stop_all()


def test_hello_heartbeats_and_reports_in_order(tmp_path, live_stack, links):
    device, key = provisioned_device("lobby-1")
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        outbox.append("software", {"version": "1.2.3"})  # queued while offline
        run = links.start(live_stack.url, device, key, outbox)
        client = run.client
        assert run.call(client.wait_connected, 10)
        for n in range(20):
            run.call(client.queue_report, "logs", log_entries(f"report {n}"))
        wait_for(lambda: refreshed(device).last_report_seq == 21, 15, "21 reports stored")
        wait_for(lambda: run.call(outbox.count) == 0, 10, "the outbox to empty")
        wait_for(lambda: client.last_rtt_s is not None and client.stats.heartbeat_acks >= 2,
                 10, "heartbeats acknowledged")  # fmt: skip
        assert console_logs(device, message__startswith="report ") == [
            f"report {n}" for n in range(20)
        ]
        # The hello and the heartbeats, as the console stored them.
        device = refreshed(device)
        assert device.aggregated == "ONLINE" and device.provisioning_status == "SUCCEEDED"
        assert (device.current_software, device.serial_number) == ("1.2.3", "123456789012")
        wait_for(lambda: refreshed(device).health.get("cpu_percent") == 5.0, 10, "health")
        assert device.lease_expires_at is not None
        assert client.welcome.device_id == device.device_id
        assert (client.welcome.heartbeat_s, client.welcome.lease_s) == (1, 4)
        assert client.stats.reports_acked == 21
        assert run.call(client.flush, 1)
        run.stop()
        assert not client.connected


def test_reports_made_offline_are_delivered_in_order_after_reconnecting(
    tmp_path, live_stack, links, console_proxy
):
    device, key = provisioned_device("lobby-1")
    errors: list[str] = []
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(console_proxy.url, device, key, outbox, on_change=errors_of(errors))
        client = run.client
        assert run.call(client.wait_connected, 10)
        run.call(client.queue_report, "logs", log_entries("offline 1"))
        wait_for(lambda: refreshed(device).last_report_seq == 1, 10, "the first report")
        wait_for(lambda: run.call(outbox.count) == 0, 10, "its ack")

        console_proxy.cut()
        wait_for(lambda: not client.connected, 10, "the agent to notice the cut")
        for n in range(2, 7):
            run.call(client.queue_report, "logs", log_entries(f"offline {n}"))
        failures = client.stats.failures
        wait_for(lambda: client.stats.failures > failures + 2, 10, "failed reconnects")
        assert refreshed(device).last_report_seq == 1 and run.call(outbox.count) == 5

        console_proxy.restore()
        wait_for(lambda: refreshed(device).last_report_seq == 6, 15, "the queued reports")
        wait_for(lambda: run.call(outbox.count) == 0, 10, "the outbox to empty")
        assert console_logs(device, message__startswith="offline ") == [
            f"offline {n}" for n in range(1, 7)
        ]
        assert client.stats.connects >= 2
        assert not [e for e in errors if "protocol error" in e]  # never a gap (4400)
        run.stop()


def test_a_new_outbox_follows_the_consoles_last_seq(tmp_path, live_stack, links):
    """An outbox that was lost restarts at 1; the agent renumbers instead of being ignored."""
    device, key = provisioned_device("lobby-1")
    Device.objects.filter(pk=device.pk).update(last_report_seq=41)
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        assert outbox.append("logs", log_entries("renumbered")) == 1
        run = links.start(live_stack.url, device, key, outbox)
        wait_for(lambda: refreshed(device).last_report_seq == 42, 15, "report 42")
        assert console_logs(device) == ["renumbered"]
        assert run.call(run.client.queue_report, "logs", log_entries("next")) == 43
        wait_for(lambda: refreshed(device).last_report_seq == 43, 10, "report 43")
        assert console_logs(device) == ["renumbered", "next"]
        run.stop()


def test_desired_is_applied_once_and_reported(tmp_path, live_stack, links, console_proxy):
    device, key = provisioned_device("lobby-1")
    handled: list[Desired] = []
    release = threading.Event()

    async def on_desired(desired: Desired) -> None:
        handled.append(desired)
        await asyncio.to_thread(release.wait, 60)

    try:
        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            run = links.start(console_proxy.url, device, key, outbox, on_desired=on_desired)
            client = run.client
            assert run.call(client.wait_connected, 10)
            [job] = create_jobs([refreshed(device)], "REBOOT")  # desired state 1
            wait_for(lambda: len(handled) == 1, 10, "desired state 1")
            assert handled[0].version == 1
            assert [(j.job_id, j.job_type) for j in handled[0].jobs] == [(job.job_id, "REBOOT")]

            # Re-sent while being applied (the link came back, and the hello says nothing is
            # applied yet), then two newer ones: only the newest runs after the first.
            console_proxy.cut()
            wait_for(lambda: not client.connected, 10, "the link to drop")
            console_proxy.restore()
            wait_for(lambda: client.stats.desired_received == 2, 15, "desired 1 again")
            publish(refreshed(device))
            wait_for(lambda: client.stats.desired_received == 3, 10, "desired state 2")
            publish(refreshed(device))
            wait_for(lambda: client.stats.desired_received == 4, 10, "desired state 3")
            assert [d.version for d in handled] == [1]
            release.set()
            wait_for(lambda: refreshed(device).applied_version == 3, 10, "applied 3 reported")
            assert [d.version for d in handled] == [1, 3]
            assert client.applied_version == 3
            run.stop()
    finally:
        release.set()


def test_a_deleted_device_is_told_and_its_client_stops(tmp_path, live_stack, links, administrator):
    device, key = provisioned_device("lobby-1")
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(live_stack.url, device, key, outbox)
        client = run.client
        assert run.call(client.wait_connected, 10)
        delete_device(refreshed(device), administrator)
        wait_for(run.finished, 10, "run() to return by itself")
        run.join()
        assert client.revoked
        assert client.revoked_reason == "This device was deleted from the console."
        assert not client.connected and client.stats.connects == 1


def test_a_refused_upgrade_403_means_revoked_and_401_keeps_trying(
    tmp_path, live_stack, links, administrator
):
    device, _key = provisioned_device("lobby-1")
    wrong_key = auth.generate_private_key()
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(live_stack.url, device, wrong_key, outbox)
        client = run.client
        wait_for(lambda: client.stats.failures >= 3, 10, "refused attempts")
        assert client.last_error == (
            "The console refused the link (HTTP 401: The request's signature does not match "
            "the device's key.)."
        )
        assert not run.finished() and not client.revoked
        assert client.stats.connects == 0 and refreshed(device).aggregated != "ONLINE"

        delete_device(refreshed(device), administrator)  # leaves a DeletedDevice: 403
        wait_for(run.finished, 10, "run() to return by itself")
        run.join()
        assert client.revoked
        assert "HTTP 403: Device lobby-1" in client.revoked_reason
        assert "was deleted from the console" in client.revoked_reason
        assert "reset --full" in client.revoked_reason


def test_a_replaced_connection_reconnects(tmp_path, live_stack, links):
    device, key = provisioned_device("lobby-1")
    errors: list[str] = []
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(live_stack.url, device, key, outbox, on_change=errors_of(errors))
        client = run.client
        assert run.call(client.wait_connected, 10)
        # The same device connects again (a clone, or a restarted agent whose old TCP
        # connection the console has not noticed closing): the newer connection wins.
        headers = {"Authorization": sign_request(key, device.device_id, "GET", LINK_PATH)}
        with ws_connect(link_uri(live_stack.url, LINK_PATH), additional_headers=headers,
                        open_timeout=10) as second:  # fmt: skip
            wait_for(lambda: any("replaced this one" in e for e in errors), 10, "4409")
            # The agent reconnects, and in its turn replaces the second connection.
            wait_for(lambda: client.connected and client.stats.connects == 2, 10, "reconnect")
            with pytest.raises(ConnectionClosed) as closed:
                second.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409
        assert (
            "Another connection of this device replaced this one (A newer connection of this "
            "device replaced this one.)." in errors
        )
        wait_for(lambda: refreshed(device).aggregated == "ONLINE", 10, "ONLINE")
        run.stop()


def test_many_clients_share_one_event_loop(tmp_path, live_stack, links):
    clients = 50
    # One SQLite connection for all of them, as a benchmark of many appliances would.
    database = open_database(tmp_path / "shared.sqlite3", durable=False)
    devices = [provisioned_device(f"sim-{n}") for n in range(clients)]

    def make() -> list[LinkClient]:
        # At the console's heartbeat interval (1 s here), like appliances.
        options = {"heartbeat_s": None}
        return [
            link_client(live_stack.url, device, key, Outbox(database, device.device_id), **options)
            for device, key in devices
        ]

    run = links.start_many(make)
    wait_for(lambda: all(link.connected for link in run.clients), 30, "every client connected")
    for link in run.clients:
        run.call(link.queue_report, "logs", log_entries(f"hello from {link.device_id}"))
    wait_for(
        lambda: (
            Device.objects.filter(last_report_seq=1, connection_status="ONLINE").count() == clients
        ),
        30,
        "one report of each device stored",
    )
    run.stop()
    for link in run.clients:
        link.outbox.close()  # leaves the shared connection open
    assert database.execute("SELECT COUNT(*) FROM counters").fetchone()[0] == clients
    database.close()


def test_a_console_that_stops_answering_is_left_after_a_lease(
    tmp_path, live_stack, links, console_proxy
):
    device, key = provisioned_device("lobby-1")
    errors: list[str] = []
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(
            console_proxy.url, device, key, outbox, open_timeout_s=2, on_change=errors_of(errors)
        )
        client = run.client
        assert run.call(client.wait_connected, 10)
        wait_for(lambda: client.stats.heartbeat_acks > 0, 10, "a heartbeat acknowledged")

        # The console goes silent; TCP stays up, so only the agent's lease can tell.
        console_proxy.freeze()
        frozen_at = time.monotonic()
        dead = re.compile(r"No answer from the console for (\d+) s; reconnecting\.")
        said = wait_for(lambda: next(filter(None, map(dead.fullmatch, errors)), None), 15,
                        "the agent to give up on the silent link")  # fmt: skip
        assert int(said.group(1)) >= 4  # the console's lease (DEVICE_LEASE_S), not sooner
        assert time.monotonic() - frozen_at >= 4
        # The console saw no heartbeat either: its lease ran out.
        wait_for(lambda: refreshed(device).aggregated == "OFFLINE", 15, "OFFLINE")
        wait_for(lambda: not client.connected, 20, "the agent to leave the dead connection")
        assert client.stats.connects == 1

        console_proxy.thaw()
        # (>= 2: a handshake that was held back while frozen may reach the console late and
        # replace the new link once more; the agent then simply reconnects again.)
        wait_for(lambda: client.connected and client.stats.connects >= 2, 20, "a new link")
        acks = client.stats.heartbeat_acks
        wait_for(lambda: client.stats.heartbeat_acks > acks, 10, "heartbeats answered again")
        wait_for(lambda: refreshed(device).aggregated == "ONLINE", 10, "ONLINE again")
        run.stop()


# --- the whole agent process --------------------------------------------------------------------


@dataclass
class AgentProcess:
    usb_dir: Path
    data_dir: Path
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None

    def start(self) -> AgentProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge_agent", "run", "--usb-dir", str(self.usb_dir),
                 "--data-dir", str(self.data_dir)],
                cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status(self) -> dict:
        result = subprocess.run(
            [sys.executable, "-m", "edge_agent", "status", "--json",
             "--data-dir", str(self.data_dir)],
            cwd=BASE_DIR, env=self.env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return json.loads(result.stdout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def make_agent(tmp_path, live_stack) -> Iterator[Callable[[str], AgentProcess]]:
    agents: list[AgentProcess] = []

    def make(name: str) -> AgentProcess:
        root = tmp_path / name
        (root / "usb").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))}
        env.pop("VANTAGE_AGENT_BOOTSTRAP", None)
        env.update(
            VANTAGE_AGENT_BACKOFF_BASE_S="0.2",
            VANTAGE_AGENT_BACKOFF_CAP_S="1",
            PYTHONUNBUFFERED="1",
        )
        agent = AgentProcess(root / "usb", root / "data", root / "agent.log", env)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.stop()


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
