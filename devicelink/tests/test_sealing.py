"""devicelink.sealing: what the console seals only the device opens, for that purpose only."""

from __future__ import annotations

import pytest

from devicelink import auth, sealing
from devicelink.apps import ApplicationSpec, InvalidApplication
from devicelink.messages import CheckStream, Desired, decode_console_message, encode

DEVICE = "device-" + "a" * 26


def spec(iid: str, password: str) -> ApplicationSpec:
    return ApplicationSpec.model_validate(
        {
            "application_instance_id": iid,
            "name": iid,
            "generation": 1,
            "nodes": [
                {
                    "name": "cam",
                    "kind": "camera",
                    "stream": {"url": "rtsp://c/1", "username": "u", "password": password},
                }
            ],
        }
    )


def test_a_value_opens_only_with_its_key_device_and_purpose():
    key = sealing.generate_seal_key()
    token = sealing.seal(sealing.public_b64(key), DEVICE, "stream:a/cam", {"password": "p1"})
    assert token.startswith(sealing.PREFIX) and "p1" not in token
    assert sealing.open_sealed(key, DEVICE, "stream:a/cam", token) == {"password": "p1"}
    for other_key, device, purpose in (
        (sealing.generate_seal_key(), DEVICE, "stream:a/cam"),
        (key, "device-" + "b" * 26, "stream:a/cam"),
        (key, DEVICE, "stream:b/cam"),  # another camera's credentials passed off as these
    ):
        with pytest.raises(sealing.SealError):
            sealing.open_sealed(other_key, device, purpose, token)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(sealing.SealError):
        sealing.open_sealed(key, DEVICE, "stream:a/cam", tampered)
    with pytest.raises(sealing.SealError, match="not a sealed value"):
        sealing.open_sealed(key, DEVICE, "stream:a/cam", "p1")


def test_a_desired_state_opens_and_an_unopenable_app_becomes_an_install_error():
    key = sealing.generate_seal_key()
    public = sealing.public_b64(key)
    good, bad = spec("applicationInstance-good", "pw-good"), spec("applicationInstance-bad", "x")
    sealing.seal_spec(public, DEVICE, good)
    sealing.seal_spec(sealing.public_b64(sealing.generate_seal_key()), DEVICE, bad)
    wire = encode(Desired(version=1, applications=[good, bad]))
    assert "pw-good" not in wire
    desired = decode_console_message(wire)
    assert isinstance(desired, Desired)
    sealing.open_desired(key, DEVICE, desired)
    opened, refused = desired.applications
    assert isinstance(opened, ApplicationSpec) and opened.nodes[0].stream is not None
    assert opened.nodes[0].stream.password == "pw-good" and not opened.nodes[0].stream.sealed
    assert isinstance(refused, InvalidApplication)
    assert refused.application_instance_id == "applicationInstance-bad"
    assert "cannot be opened on this appliance" in refused.error


def test_a_stream_check_is_sealed_and_opened():
    key = sealing.generate_seal_key()
    message = CheckStream(check_id=7, url="rtsp://c/1", username="u", password="pw", timeout_s=5)
    sealing.seal_check(sealing.public_b64(key), DEVICE, message)
    assert (message.username, message.password) == ("", "") and message.sealed
    assert "pw" not in repr(message)
    sealing.open_check(key, DEVICE, message)
    assert (message.username, message.password, message.sealed) == ("u", "pw", "")


def test_only_the_devices_identity_can_vouch_for_its_seal_key():
    identity = auth.generate_private_key()
    public = sealing.public_b64(sealing.generate_seal_key())
    signature = sealing.sign_seal_key(identity, DEVICE, public)
    sealing.verify_seal_key(identity.public_key(), DEVICE, public, signature)
    other = sealing.public_b64(sealing.generate_seal_key())
    with pytest.raises(ValueError, match="does not verify"):
        sealing.verify_seal_key(identity.public_key(), DEVICE, other, signature)
    with pytest.raises(ValueError, match="does not verify"):
        sealing.verify_seal_key(identity.public_key(), "device-" + "b" * 26, public, signature)
