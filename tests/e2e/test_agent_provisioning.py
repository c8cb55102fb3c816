"""The agent's Provisioner against the real console's POST /agent/v1/provision."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import stat
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from devicelink import PROVISION_PATH, auth
from devicelink.archive import ArchiveError, archive_name, read_archive
from devicelink.network import NetworkStatus
from devices.models import ProvisioningCredential
from edge_agent.config import AgentPaths
from edge_agent.console_http import post_json, url_for
from edge_agent.identity import load_device_key, load_identity
from edge_agent.network import DryRunApplier
from edge_agent.provision import Provisioner, archive_files, provision_body
from tests.support.agent_pieces import (
    NETWORK,
    console_logs,
    issue,
    refreshed,
    reissue,
    run_async,
)
from tests.support.ports import free_port
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


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
