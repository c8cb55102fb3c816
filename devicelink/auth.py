"""Device credentials: an Ed25519 key pair that the agent generates and keeps.

The console stores only the public half. Every request after provisioning carries an
``Authorization`` header signed with the private half over the method, the path, a timestamp, a
random nonce and the sha256 of the body::

    Authorization: Vantage-Device device="<device id>", ts="<unix s>", nonce="<32 hex>", sig="<b64>"

The console refuses a header whose timestamp is more than ``MAX_SKEW_S`` away from its clock
(``LINK_MAX_SKEW_S`` for the link's login, which a device makes with a fresh timestamp each time),
and a nonce it has seen before, so a captured header cannot be replayed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

SCHEME = "Vantage-Device"
MAX_SKEW_S = 300
LINK_MAX_SKEW_S = 60
_HEADER = re.compile(r'(\w+)="([^"]*)"')
_DEVICE_ID = re.compile(r"^device-[a-z2-7]{26}$")


class AuthError(Exception):
    """A request's credentials are refused. ``status`` is 401 (missing or wrong) or 403."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey | X25519PrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (it is kept in a file of mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the device key is not an Ed25519 key")
    return key


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key(value: str) -> Ed25519PublicKey:
    """An Ed25519 public key from its base64 raw form; ValueError if it is not one."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the public key is not base64") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key has 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method: str, path: str, ts: int, nonce: str, body: bytes) -> bytes:
    return "\n".join(
        ["VANTAGE-DEVICE-V1", method.upper(), path, str(ts), nonce, body_digest(body)]
    ).encode()


def sign_request(
    key: Ed25519PrivateKey,
    device_id: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    now: float | None = None,
) -> str:
    """The ``Authorization`` header value for one request."""
    ts = int(time.time() if now is None else now)
    nonce = os.urandom(16).hex()
    signature = key.sign(string_to_sign(method, path, ts, nonce, body))
    sig = base64.b64encode(signature).decode()
    return f'{SCHEME} device="{device_id}", ts="{ts}", nonce="{nonce}", sig="{sig}"'


@dataclass(frozen=True)
class Claim:
    """What an ``Authorization`` header says, before it is verified."""

    device_id: str
    ts: int
    nonce: str
    signature: bytes


def parse_authorization(header: str | None) -> Claim:
    if not header:
        raise AuthError(401, "The request has no Authorization header; the device must sign it.")
    scheme, _, rest = header.strip().partition(" ")
    if scheme != SCHEME:
        raise AuthError(401, f"The Authorization scheme must be {SCHEME}.")
    fields = dict(_HEADER.findall(rest))
    missing = [name for name in ("device", "ts", "nonce", "sig") if name not in fields]
    if missing:
        raise AuthError(401, f"The Authorization header lacks {', '.join(missing)}.")
    if not _DEVICE_ID.match(fields["device"]):
        raise AuthError(401, "The Authorization header names no valid device id.")
    if not re.fullmatch(r"[0-9a-f]{32}", fields["nonce"]):
        raise AuthError(401, "The nonce must be 32 lowercase hex characters.")
    try:
        ts = int(fields["ts"])
        signature = base64.b64decode(fields["sig"], validate=True)
    except (ValueError, binascii.Error):
        raise AuthError(401, "The Authorization header's ts or sig is malformed.") from None
    return Claim(fields["device"], ts, fields["nonce"], signature)


def verify_claim(
    claim: Claim,
    public_key: str,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    now: float | None = None,
    max_skew_s: int = MAX_SKEW_S,
) -> None:
    """Check the signature and the clock; the caller checks the nonce was not seen before."""
    current = time.time() if now is None else now
    if abs(current - claim.ts) > max_skew_s:
        raise AuthError(
            401,
            f"The request's timestamp is {int(current - claim.ts)} s away from the console's "
            f"clock (at most {max_skew_s} s allowed); check the appliance's NTP settings.",
        )
    try:
        load_public_key(public_key).verify(
            claim.signature, string_to_sign(method, path, claim.ts, claim.nonce, body)
        )
    except (InvalidSignature, ValueError):
        raise AuthError(401, "The request's signature does not match the device's key.") from None


def provision_proof_message(device_id: str, credential_id: str, public_key: str) -> bytes:
    return f"VANTAGE-PROVISION-V1\n{device_id}\n{credential_id}\n{public_key}".encode()


def sign_provision_proof(key: Ed25519PrivateKey, device_id: str, credential_id: str) -> str:
    message = provision_proof_message(device_id, credential_id, public_key_b64(key))
    return base64.b64encode(key.sign(message)).decode()


def verify_provision_proof(public_key: str, proof: str, device_id: str, credential_id: str) -> None:
    try:
        load_public_key(public_key).verify(
            base64.b64decode(proof, validate=True),
            provision_proof_message(device_id, credential_id, public_key),
        )
    except (InvalidSignature, ValueError, binascii.Error):
        raise AuthError(
            401, "The proof does not verify with the public key being registered."
        ) from None
