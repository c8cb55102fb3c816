"""Provisioning from the USB archive, against the real HTTP endpoint of a fake console."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import stat
import zipfile

import pytest

from devicelink import auth
from devicelink.archive import ArchiveError, read_archive
from devicelink.network import NetworkPayload, NetworkStatus
from edge_agent.config import AgentPaths
from edge_agent.console_http import ConsoleAnswer, ConsoleUnreachable
from edge_agent.identity import load_device_key, load_identity, serial_number
from edge_agent.logs import UsbLogHandler
from edge_agent.network import DryRunApplier
from edge_agent.provision import Provisioner, archive_files, provision_body
from edge_agent.tests.fake_console import FakeConsole
from edge_agent.tests.support import eventually

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


def _provisioner(paths, usb, **extra) -> Provisioner:
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


def _run(test):
    async def main():
        console = FakeConsole()
        await console.start()
        try:
            await test(console)
        finally:
            await console.shutdown()

    asyncio.run(main())


def test_a_valid_archive_provisions_once_with_a_private_key_file(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    paths, usb = AgentPaths(tmp_path / "data"), tmp_path / "usb"
    usb.mkdir()

    async def test(console):
        device = console.add_device("lobby-1")
        archive = console.archive(device, network=NetworkPayload.model_validate(NETWORK))
        (usb / "certificates-omni_lobby-1.zip").write_bytes(archive)
        (usb / "notes.zip").write_bytes(b"not an archive")  # not the archive's name: ignored
        stop = asyncio.Event()
        identity = await asyncio.wait_for(_provisioner(paths, usb).wait(stop), 20)
        assert identity is not None and identity.device_id == device.device_id
        assert (identity.device_name, identity.heartbeat_s, identity.lease_s) == ("lobby-1", 1, 3)
        assert identity.console_url == console.url
        assert load_identity(paths) == identity
        # The body the console got, field by field (docs/protocol.md).
        body = device.provision_bodies[0]
        assert set(body) == {"device_id", "credential_id", "provisioning_token", "public_key",
                             "proof", "serial_number", "software_version", "device_type",
                             "network_status"}  # fmt: skip
        key = load_device_key(paths)
        assert body["public_key"] == auth.public_key_b64(key) == device.public_key
        auth.verify_provision_proof(body["public_key"], body["proof"], device.device_id,
                                    device.credential_id)  # fmt: skip
        assert body["device_type"] == "PANORAMA_APPLIANCE" and body["serial_number"].isdigit()
        assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600
        stored = NetworkPayload.model_validate(json.loads(paths.network.read_text()))
        assert stored.Ntp.NtpServers == ["time.example.com"]
        text = caplog.text
        assert "Ethernet1 (eth1): static IP 192.168.1.20, mask 255.255.255.0" in text
        assert "Provisioned: this appliance is lobby-1" in text

    _run(test)


def test_key_file_is_never_wider_than_0600(tmp_path, monkeypatch):
    """The mode is set on the temporary file before the key is written into it."""
    import os

    from edge_agent import config
    from edge_agent.identity import create_device_key

    modes = []
    real_fchmod = os.fchmod

    def spy(fd, mode):
        modes.append((mode, stat.S_IMODE(os.fstat(fd).st_mode), os.fstat(fd).st_size))
        real_fchmod(fd, mode)

    monkeypatch.setattr(config.os, "fchmod", spy)
    paths = AgentPaths(tmp_path)
    create_device_key(paths)
    assert modes[0][0] == 0o600 and modes[0][1] & 0o077 == 0 and modes[0][2] == 0
    assert stat.S_IMODE(paths.key.stat().st_mode) == 0o600


def test_a_refused_archive_is_not_retried_until_a_different_one_appears(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    paths, usb = AgentPaths(tmp_path / "data"), tmp_path / "usb"
    usb.mkdir()

    async def test(console):
        device = console.add_device("lobby-1")
        used = console.archive(device)
        device.credential_used = True  # as if provisioned before: 403
        (usb / "certificates-omni_lobby-1.zip").write_bytes(used)
        provisioner = _provisioner(paths, usb)
        stop = asyncio.Event()
        task = asyncio.create_task(provisioner.wait(stop))
        await eventually(lambda: paths.refused.exists())
        assert "already used; download a new archive" in caplog.text
        attempts = len(device.provision_bodies)
        for _ in range(5):  # several polls later: no new attempt with the same archive
            await provisioner.scan_once(stop)
        assert len(device.provision_bodies) == attempts == 1
        # A restarted agent remembers the refusal too.
        assert await _provisioner(paths, usb).scan_once(stop) is None
        assert len(device.provision_bodies) == 1
        (usb / "certificates-omni_lobby-1.zip").write_bytes(console.archive(device))
        identity = await asyncio.wait_for(task, 20)
        assert identity is not None and len(device.provision_bodies) == 2

    _run(test)


def test_expired_corrupt_and_foreign_archives_say_why(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    paths, usb = AgentPaths(tmp_path / "data"), tmp_path / "usb"
    usb.mkdir()

    async def test(console):
        device = console.add_device("lobby-1")
        (usb / "certificates-omni_old.zip").write_bytes(console.archive(device, ttl_s=-60))
        (usb / "certificates-omni_broken.zip").write_bytes(b"PK\x03\x04 truncated download")
        other = io.BytesIO()
        with zipfile.ZipFile(other, "w") as archive:
            archive.writestr("vantage-device.json", json.dumps({"format": "panorama/9"}))
        (usb / "certificates-omni_foreign.zip").write_bytes(other.getvalue())
        assert len(archive_files(usb)) == 3
        assert await _provisioner(paths, usb).scan_once(asyncio.Event()) is None
        assert device.provision_bodies == []  # nothing reached the console
        assert not paths.key.exists()

    _run(test)
    text = caplog.text
    assert "certificates-omni_old.zip: The configuration archive expired at " in text
    assert "; download a new one from the console." in text
    assert "certificates-omni_broken.zip cannot be used: The file is not a ZIP archive" in text
    assert "has format 'panorama/9'; this agent reads vantage-device-archive/1" in text
    with pytest.raises(ArchiveError):
        read_archive(b"garbage")


def test_network_errors_are_retried_while_the_archive_is_valid(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    paths, usb = AgentPaths(tmp_path / "data"), tmp_path / "usb"
    usb.mkdir()
    console = FakeConsole()
    console.url = "http://console.invalid"
    device = console.add_device("lobby-1")
    (usb / "certificates-omni_lobby-1.zip").write_bytes(console.archive(device))
    answers = [ConsoleUnreachable("Cannot reach the console: timed out")] * 3
    calls = []

    def post(url, body, context):
        calls.append(url)
        if answers:
            raise answers.pop()
        return ConsoleAnswer(200, {"device_id": device.device_id, "device_name": "lobby-1"})

    identity = asyncio.run(_provisioner(paths, usb, post=post).wait(asyncio.Event()))
    assert identity is not None and len(calls) == 4
    assert calls[0] == "http://console.invalid/agent/v1/provision"
    assert caplog.text.count("Cannot reach the console: timed out") == 1  # said once


def test_provisioning_logs_on_the_usb_drive(tmp_path):
    usb = tmp_path / "usb"
    handler = UsbLogHandler(usb)
    logger = logging.getLogger("edge_agent.provision")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.error("The console refused certificates-omni_x.zip (HTTP 403): used")
        logging.getLogger("edge_agent.software").info("Installed software 2.0.0")
        logging.getLogger("edge_agent.software").addHandler(handler)
        logging.getLogger("edge_agent.software").info("Installed software 2.0.1")
    finally:
        logger.removeHandler(handler)
        logging.getLogger("edge_agent.software").removeHandler(handler)
    occ = (usb / "panorama" / "occ.log").read_text()
    assert "ERROR occ_log edge_agent.provision: The console refused" in occ
    assert "2.0.1" in (usb / "panorama" / "ota_agent.log").read_text()
    assert "refused" in (usb / "panorama" / "syslog.log").read_text()


def test_serial_number_is_twelve_stable_digits(tmp_path):
    machine = tmp_path / "machine-id"
    machine.write_text("3d1219c7c4c5404aaa1f6d2a48adfda4\n")
    first = serial_number(tmp_path / "a", machine)
    assert first == serial_number(tmp_path / "a", machine)
    assert first != serial_number(tmp_path / "b", machine)
    assert len(first) == 12 and first.isdigit()
    assert serial_number(tmp_path / "a", tmp_path / "no-machine-id").isdigit()


def test_provision_body_matches_the_protocol():
    console = FakeConsole()
    console.url = "https://vantage.example.com"
    device = console.add_device()
    archive, _ = read_archive(console.archive(device))
    key = auth.generate_private_key()
    body = provision_body(archive, key, serial_number="000000000042", software_version="0.1.0",
                          network_status=NetworkStatus())  # fmt: skip
    assert body["provisioning_token"] == device.token
    assert body["credential_id"] == device.credential_id
    assert body["network_status"]["Ethernet0Status"]["IpAddress"] == "--"
    json.dumps(body)
