"""The commands: status, reset --full, bundle, and the offline log image written at start."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tarfile
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from devicelink import logimage
from devicelink.releases import inspect_bundle
from edge_agent.agent import write_offline_log_image
from edge_agent.cli import main
from edge_agent.config import AgentLock, AgentPaths, write_json
from edge_agent.identity import Identity, create_device_key, save_identity
from edge_agent.logs import file_handler, read_log_entries
from edge_agent.outbox import Outbox

SOURCE_ROOT = Path(__file__).resolve().parents[2]


def provisioned(data: Path, log_key: X25519PrivateKey | None = None) -> Identity:
    paths = AgentPaths(data)
    identity = Identity(
        device_id="device-aaaaaaaaaaaaaaaaaaaaaaaaaa",
        device_name="lobby-1",
        console_url="https://vantage.example.com",
        release_public_key="",
        log_public_key=logimage.public_key_b64(log_key or X25519PrivateKey.generate()),
        serial_number="123456789012",
    )
    save_identity(paths, identity, b"-----BEGIN CERTIFICATE-----\n")
    create_device_key(paths)
    return identity


def test_status_of_a_fresh_and_of_a_running_agent(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["status", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "Provisioned:" in out and "no (waiting for a USB archive)" in out
    assert "not running" in out and "installed 0.1.0 (built-in)" in out

    provisioned(data)
    paths = AgentPaths(data)
    with Outbox(paths.outbox, "device-aaaaaaaaaaaaaaaaaaaaaaaaaa") as outbox:
        outbox.append("software", {"version": "0.1.0"})
        outbox.append("network", {})
    write_json(paths.status, {"state": "connected", "connected": True, "since": 1_790_000_000,
                              "last_heartbeat_ack": 1_790_000_100, "last_error": "",
                              "software_version": "0.1.0", "pending_job": "job-1"})  # fmt: skip
    with AgentLock(paths.lock) as lock:
        assert lock.acquire()
        assert main(["status", "--data-dir", str(data)]) == 0
        out = capsys.readouterr().out
        assert main(["status", "--data-dir", str(data), "--json"]) == 0
        document = json.loads(capsys.readouterr().out)
    assert "device-aaaaaaaaaaaaaaaaaaaaaaaaaa (lobby-1)" in out
    assert "https://vantage.example.com" in out
    assert "connected since 2026-09-21 14:13:20 UTC" in out and "Queued reports:     2" in out
    assert "Pending job:        job-1" in out and "running 0.1.0" in out
    assert document["connected"] is True and document["queued_reports"] == 2
    # Once the agent is gone, a stale status file does not claim a live link.
    assert main(["status", "--data-dir", str(data), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["connected"] is False and document["agent_running"] is False


def test_full_reset_wipes_everything_and_refuses_while_an_agent_runs(tmp_path, capsys):
    data = tmp_path / "data"
    provisioned(data)
    paths = AgentPaths(data)
    (paths.apps / "app-1").mkdir(parents=True)
    paths.logs.mkdir()
    (paths.logs / "agent.log").write_text("x")
    Outbox(paths.outbox, "d").close()
    with AgentLock(paths.lock) as lock:
        assert lock.acquire()
        assert main(["reset", "--full", "--data-dir", str(data)]) == 2
        assert "An agent is running" in capsys.readouterr().out
        assert main(["reset", "--data-dir", str(data)]) == 2
        assert paths.identity.exists() and paths.key.exists()
    assert main(["reset", "--full", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    for name in ("identity.json", "device_key.pem", "console-ca.pem", "apps/", "logs/",
                 "outbox.sqlite3"):  # fmt: skip
        assert f"removed {data / name}" in out
    assert list(data.iterdir()) == []
    assert main(["status", "--data-dir", str(data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["provisioned"] is False


def test_the_offline_log_image_decrypts_with_the_consoles_key(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    log_key = X25519PrivateKey.generate()
    data, usb = tmp_path / "data", tmp_path / "usb"
    identity = provisioned(data, log_key)
    paths = AgentPaths(data)
    handler = file_handler(paths.logs)
    logger = logging.getLogger("edge_agent.link")
    logger.addHandler(handler)
    try:
        logger.warning("Cannot reach the console: timed out")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("something failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    # No managed_logs folder: nothing written.
    assert write_offline_log_image(paths, usb, identity) is None
    (usb / "panorama" / "managed_logs").mkdir(parents=True)
    assert write_offline_log_image(paths, usb, None) is None
    assert "not provisioned" in caplog.text
    when = datetime(2026, 3, 4, 5, 6)
    image = write_offline_log_image(paths, usb, identity, when)
    assert image == usb / "panorama" / "managed_logs" / "panorama_device_log_v1_04_05_06.img"
    document = logimage.decrypt_log_image(log_key, image.read_bytes())
    assert document["device_id"] == identity.device_id
    messages = [(e["stream"], e["level"], e["message"]) for e in document["entries"]]
    assert messages[0] == ("occ_log", "WARNING", "Cannot reach the console: timed out")
    assert messages[1][2].startswith("something failed\nTraceback")
    assert "ValueError: boom" in messages[1][2]
    assert read_log_entries(paths.logs) == document["entries"]


def test_bundle_command_builds_an_installable_release(tmp_path):
    output = tmp_path / "agent-2.0.0.tar.gz"
    result = subprocess.run(
        [sys.executable, "-m", "edge_agent", "bundle", "--version", "2.0.0", "-o", str(output),
         "--notes", "faster links"],
        capture_output=True, text=True, timeout=60, cwd=SOURCE_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"Wrote {output}: agent release 2.0.0" in result.stdout
    data = output.read_bytes()
    assert inspect_bundle(data).version == "2.0.0"
    with tarfile.open(output) as tar:
        names = tar.getnames()
    assert "edge_agent/link.py" in names and "devicelink/auth.py" in names
    assert not any("/tests/" in name for name in names)
    assert main(["bundle", "--version", "2.0", "-o", str(output)]) == 2
