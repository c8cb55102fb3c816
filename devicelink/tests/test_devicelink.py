"""The shared protocol package: credentials, archive, messages, network settings, releases."""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import ValidationError

from devicelink import auth, logimage, releases
from devicelink.archive import ArchiveError, DeviceArchive, build_archive, read_archive
from devicelink.messages import ProtocolError, Report, decode_agent_message, report_body
from devicelink.network import NetworkPayload

ROOT = Path(__file__).resolve().parents[2]
DEVICE_ID = "device-4tafxmplhtmzabv5lsacba4ere"


# --- signed requests --------------------------------------------------------------------------
def test_a_signed_request_verifies_and_any_change_breaks_it():
    key = auth.generate_private_key()
    public = auth.public_key_b64(key)
    header = auth.sign_request(key, DEVICE_ID, "POST", "/agent/v1/x", b"body")
    claim = auth.parse_authorization(header)
    assert claim.device_id == DEVICE_ID
    auth.verify_claim(claim, public, "POST", "/agent/v1/x", b"body")
    for method, path, body in [("GET", "/agent/v1/x", b"body"), ("POST", "/agent/v1/y", b"body"),
                               ("POST", "/agent/v1/x", b"other")]:  # fmt: skip
        with pytest.raises(auth.AuthError) as refused:
            auth.verify_claim(claim, public, method, path, body)
        assert refused.value.status == 401


def test_a_request_from_a_skewed_clock_is_refused():
    key = auth.generate_private_key()
    claim = auth.parse_authorization(auth.sign_request(key, DEVICE_ID, "GET", "/", now=1000))
    with pytest.raises(auth.AuthError, match="NTP"):
        auth.verify_claim(claim, auth.public_key_b64(key), "GET", "/", now=1000 + 301)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "no Authorization header"),
        ("Bearer abc", "scheme"),
        ('Vantage-Device device="x"', "lacks ts, nonce, sig"),
        ('Vantage-Device device="nope", ts="1", nonce="' + "a" * 32 + '", sig="AA=="', "device id"),
    ],
)
def test_malformed_authorization_headers_say_what_is_wrong(header, message):
    with pytest.raises(auth.AuthError, match=message):
        auth.parse_authorization(header)


def test_the_provision_proof_binds_the_key_to_the_credential():
    key = auth.generate_private_key()
    proof = auth.sign_provision_proof(key, DEVICE_ID, "c" * 32)
    auth.verify_provision_proof(auth.public_key_b64(key), proof, DEVICE_ID, "c" * 32)
    with pytest.raises(auth.AuthError):
        auth.verify_provision_proof(auth.public_key_b64(key), proof, DEVICE_ID, "d" * 32)


# --- the archive ------------------------------------------------------------------------------
def _archive(**changes) -> DeviceArchive:
    values = {
        "console_url": "https://vantage.example.com",
        "device_id": DEVICE_ID,
        "device_name": "lobby-1",
        "provisioning_token": "t" * 43,
        "credential_id": "c" * 32,
        "expires_at": datetime(2026, 11, 24, 20, 0, tzinfo=UTC),
        "release_public_key": "r",
        "log_public_key": "l",
    }
    return DeviceArchive(**(values | changes))


def test_the_archive_round_trips_with_its_ca():
    data = build_archive(_archive(), b"-----BEGIN CERTIFICATE-----")
    config, ca = read_archive(data)
    assert config.device_name == "lobby-1"
    assert config.network.Ntp.NtpServers == ["pool.ntp.org"]
    assert ca == b"-----BEGIN CERTIFICATE-----"


def test_broken_archives_are_explained():
    with pytest.raises(ArchiveError, match="not a ZIP"):
        read_archive(b"not a zip")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("other.txt", "x")
    with pytest.raises(ArchiveError, match=r"holds no vantage-device\.json"):
        read_archive(buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("vantage-device.json", '{"format": "vantage-device-archive/1"}')
    with pytest.raises(ArchiveError, match="console_url"):
        read_archive(buffer.getvalue())


# --- network settings -------------------------------------------------------------------------
def test_static_ip_settings_are_checked_field_by_field():
    good: dict[str, Any] = {
        "ConnectionType": "STATIC_IP",
        "StaticIpConnectionInfo": {
            "IpAddress": "192.168.1.20",
            "Mask": "24",
            "DefaultGateway": "192.168.1.1",
            "Dns": ["192.168.1.1"],
        },
    }
    payload = NetworkPayload.model_validate({"Ethernet0": good})
    info = payload.Ethernet0.StaticIpConnectionInfo
    assert info is not None and info.Mask == "255.255.255.0"
    for field, value, message in [
        ("IpAddress", "300.1.1.1", "IP address must be an IPv4 address"),
        ("Mask", "255.0.255.0", "mask"),
        ("DefaultGateway", "10.0.0.1", "outside the subnet"),
        ("Dns", ["dns.example"], "DNS server"),
    ]:
        bad = {**good, "StaticIpConnectionInfo": {**good["StaticIpConnectionInfo"], field: value}}
        with pytest.raises(ValidationError, match=message):
            NetworkPayload.model_validate({"Ethernet0": bad})
    with pytest.raises(ValidationError, match="needs its address"):
        NetworkPayload.model_validate({"Ethernet1": {"ConnectionType": "STATIC_IP"}})
    with pytest.raises(ValidationError, match="port"):
        NetworkPayload.model_validate({"Ntp": {"NtpServers": ["10.0.0.1:99999"]}})


# --- messages ---------------------------------------------------------------------------------
def test_messages_decode_by_type_and_reports_check_their_body():
    with pytest.raises(ProtocolError):
        decode_agent_message('{"type": "heartbeat"}')
    report = Report(seq=1, time=time.time(), kind="job", body={"job_id": "j", "status": "NOPE"})
    with pytest.raises(ProtocolError, match="report 1"):
        report_body(report)


# --- releases ---------------------------------------------------------------------------------
def test_a_bundle_of_this_checkout_is_inspected_signed_and_verified(tmp_path):
    data = releases.build_bundle(ROOT, "7.1.0", notes="test")
    info = releases.inspect_bundle(data)
    assert info.version == "7.1.0" and info.files > 5
    key = auth.generate_private_key()
    signature = releases.sign_release(key, "7.1.0", "ab" * 32)
    releases.verify_release(auth.public_key_b64(key), "7.1.0", "ab" * 32, signature)
    with pytest.raises(releases.ReleaseError, match="does not verify"):
        releases.verify_release(auth.public_key_b64(key), "7.1.0", "cd" * 32, signature)
    releases.extract_bundle(data, tmp_path / "out")
    init = (tmp_path / "out" / "edge_agent" / "__init__.py").read_text()
    assert '__version__ = "7.1.0"' in init


def test_unsafe_or_incomplete_bundles_are_refused():
    with pytest.raises(releases.ReleaseError, match="not a gzip"):
        releases.inspect_bundle(b"junk")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil.py")
        info.size = 0
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(releases.ReleaseError, match="outside the bundle"):
        releases.inspect_bundle(buffer.getvalue())


def test_update_rules():
    releases.check_update_allowed("1.0.0", "1.1.0", allow_major=False)
    releases.check_update_allowed("1.0.0", "2.0.0", allow_major=True)
    with pytest.raises(releases.ReleaseError, match="downgrades"):
        releases.check_update_allowed("1.2.0", "1.1.9", allow_major=True)
    with pytest.raises(releases.ReleaseError, match="AllowMajorVersionUpdate"):
        releases.check_update_allowed("1.2.0", "2.0.0", allow_major=False)
    with pytest.raises(releases.ReleaseError, match="already installed"):
        releases.check_update_allowed("1.2.0", "1.2.0", allow_major=False)


# --- log images -------------------------------------------------------------------------------
def test_only_the_console_key_reads_a_log_image():
    console_key = X25519PrivateKey.generate()
    entries = [{"time": 1.0, "stream": "syslog", "level": "INFO", "message": "booted"}]
    image = logimage.encrypt_log_image(logimage.public_key_b64(console_key), DEVICE_ID, entries)
    document = logimage.decrypt_log_image(console_key, image)
    assert document["device_id"] == DEVICE_ID and document["entries"] == entries
    with pytest.raises(logimage.LogImageError, match="not written for this console"):
        logimage.decrypt_log_image(X25519PrivateKey.generate(), image)
    tampered = image[:-1] + bytes([image[-1] ^ 1])
    with pytest.raises(logimage.LogImageError):
        logimage.decrypt_log_image(console_key, tampered)
    assert logimage.image_name(datetime(2026, 1, 2, 3, 4)) == "panorama_device_log_v1_02_03_04.img"


def test_free_disk_space_in_heartbeats_is_optional():
    from devicelink.messages import Heartbeat, decode_agent_message

    old = decode_agent_message(
        '{"type": "heartbeat", "id": 1, "time": 1.0, "health": {"disk_percent": 50.0}}'
    )
    assert isinstance(old, Heartbeat) and old.health.disk_free_bytes is None  # an older agent
    new = decode_agent_message(
        Heartbeat(id=2, time=1.0, health={"disk_free_bytes": 5 * 1024**3}).model_dump_json()
    )
    assert isinstance(new, Heartbeat) and new.health.disk_free_bytes == 5 * 1024**3
    with pytest.raises(ValueError):
        Heartbeat(id=3, time=1.0, health={"disk_free_bytes": -1})
