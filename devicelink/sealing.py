"""Secrets sealed to one appliance: only the device they are for can open them.

Every appliance keeps an X25519 key (``seal_key.pem``, next to its Ed25519 identity) and tells
the console its public half in ``hello``, signed with its identity key so nobody on the path
can swap it. The console seals each secret it sends the device — camera credentials, the
runtime role, a stream check's credentials — to that key, whatever the transport: a capture of
the link, a proxy that terminates TLS or a replayed login shows only ciphertext.

A sealed value is ``sealed:v1:<base64 of ephemeral public key (32) | nonce (12) | ciphertext>``:
X25519 with a fresh ephemeral key, HKDF-SHA256, AES-256-GCM. The associated data names the
device and what the value is for, so a value sealed for one camera cannot be passed off as
another's, nor one device's as another's. Offline log images use the same construction
(``devicelink.logimage``) with the console as the recipient.
"""

from __future__ import annotations

import base64
import binascii
import json
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from devicelink.apps import ApplicationSpec, InvalidApplication, StreamSource
from devicelink.messages import CheckStream, Desired

PREFIX = "sealed:v1:"
_INFO = b"vantage sealed secret v1"
# A sealed document is small (credentials, a role's variables); anything bigger is refused
# before any work is done on it.
MAX_SEALED_CHARS = 64 * 1024


class SealError(Exception):
    """A sealed value that cannot be opened: not for this device's key, changed, or damaged."""


# --- the construction, shared with offline log images -------------------------------------------
def raw_public(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _derive(shared: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def encrypt_to(recipient: X25519PublicKey, plaintext: bytes, *, info: bytes, aad: bytes) -> bytes:
    """``ephemeral public key (32) | nonce (12) | ciphertext`` for ``recipient`` alone; the
    associated data is ``aad`` followed by the ephemeral public key."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = raw_public(ephemeral)
    nonce = os.urandom(12)
    key = _derive(ephemeral.exchange(recipient), info)
    return ephemeral_raw + nonce + AESGCM(key).encrypt(nonce, plaintext, aad + ephemeral_raw)


def decrypt_with(key: X25519PrivateKey, sealed: bytes, *, info: bytes, aad: bytes) -> bytes:
    """The plaintext of ``encrypt_to``'s output; InvalidTag or ValueError when it cannot be."""
    if len(sealed) < 32 + 12 + 16:
        raise ValueError("too short to be sealed")
    ephemeral_raw = sealed[:32]
    shared = key.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    return AESGCM(_derive(shared, info)).decrypt(sealed[32:44], sealed[44:], aad + ephemeral_raw)


# --- the device's seal key ------------------------------------------------------------------------
def generate_seal_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


def load_seal_key(pem: bytes) -> X25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, X25519PrivateKey):
        raise ValueError("the seal key is not an X25519 key")
    return key


def public_b64(key: X25519PrivateKey) -> str:
    return base64.b64encode(raw_public(key)).decode()


def load_public(value: str) -> X25519PublicKey:
    """An X25519 public key from its base64 raw form; ValueError if it is not one."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the seal key is not base64") from None
    if len(raw) != 32:
        raise ValueError("an X25519 public key has 32 bytes")
    return X25519PublicKey.from_public_bytes(raw)


def _statement(device_id: str, seal_public: str) -> bytes:
    return f"VANTAGE-SEAL-KEY-V1\n{device_id}\n{seal_public}".encode()


def sign_seal_key(identity: Ed25519PrivateKey, device_id: str, seal_public: str) -> str:
    """The device vouches for its seal key with its identity key (sent in ``hello``)."""
    return base64.b64encode(identity.sign(_statement(device_id, seal_public))).decode()


def verify_seal_key(
    identity_public: Ed25519PublicKey, device_id: str, seal_public: str, signature: str
) -> None:
    """ValueError unless ``seal_public`` is a key the device itself vouched for."""
    load_public(seal_public)
    try:
        identity_public.verify(
            base64.b64decode(signature, validate=True), _statement(device_id, seal_public)
        )
    except (InvalidSignature, binascii.Error, ValueError):
        raise ValueError("the seal key's signature does not verify with the device's key") from None


# --- sealing and opening values ------------------------------------------------------------------
def _aad(device_id: str, purpose: str) -> bytes:
    return f"{device_id}\n{purpose}".encode()


def seal(seal_public: str, device_id: str, purpose: str, value: dict[str, str]) -> str:
    """``value`` sealed to the device's key, for ``purpose`` alone."""
    plaintext = json.dumps(value, separators=(",", ":")).encode()
    sealed = encrypt_to(
        load_public(seal_public), plaintext, info=_INFO, aad=_aad(device_id, purpose)
    )
    return PREFIX + base64.b64encode(sealed).decode()


def open_sealed(key: X25519PrivateKey, device_id: str, purpose: str, token: str) -> dict[str, str]:
    """What ``seal`` sealed; SealError when this key cannot open it for this purpose."""
    if not token.startswith(PREFIX) or len(token) > MAX_SEALED_CHARS:
        raise SealError(f"{purpose}: not a sealed value")
    try:
        sealed = base64.b64decode(token[len(PREFIX) :], validate=True)
        plaintext = decrypt_with(key, sealed, info=_INFO, aad=_aad(device_id, purpose))
    except (InvalidTag, ValueError, binascii.Error):
        raise SealError(
            f"{purpose}: sealed to another key (was this appliance set up again?) or damaged"
        ) from None
    value = json.loads(plaintext)
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise SealError(f"{purpose}: the sealed value is not a set of strings")
    return value


# --- the secrets of link messages -----------------------------------------------------------------
def stream_purpose(application_instance_id: str, node: str) -> str:
    return f"stream:{application_instance_id}/{node}"


def environment_purpose(application_instance_id: str) -> str:
    return f"environment:{application_instance_id}"


def check_purpose(check_id: int) -> str:
    return f"check_stream:{check_id}"


def sealed_stream(
    seal_public: str, device_id: str, purpose: str, source: StreamSource
) -> StreamSource:
    """``source`` with its credentials sealed (the URL stays readable: it names no secret)."""
    if not (source.username or source.password):
        return source
    secret = {"username": source.username, "password": source.password}
    return source.model_copy(
        update={
            "username": "",
            "password": "",
            "sealed": seal(seal_public, device_id, purpose, secret),
        }
    )


def seal_spec(seal_public: str, device_id: str, spec: ApplicationSpec) -> None:
    """Seal every secret of ``spec`` in place: its runtime role and its cameras' credentials."""
    iid = spec.application_instance_id
    for node in spec.nodes:
        if node.stream is not None:
            node.stream = sealed_stream(
                seal_public, device_id, stream_purpose(iid, node.name), node.stream
            )
    if spec.environment:
        spec.sealed_environment = seal(
            seal_public, device_id, environment_purpose(iid), spec.environment
        )
        spec.environment = {}


def open_spec(key: X25519PrivateKey, device_id: str, spec: ApplicationSpec) -> None:
    """Open what ``seal_spec`` sealed, in place; SealError names what could not be opened."""
    iid = spec.application_instance_id
    for node in spec.nodes:
        stream = node.stream
        if stream is not None and stream.sealed:
            secret = open_sealed(key, device_id, stream_purpose(iid, node.name), stream.sealed)
            stream.username = secret.get("username", "")
            stream.password = secret.get("password", "")
            stream.sealed = ""
    if spec.sealed_environment:
        spec.environment = open_sealed(
            key, device_id, environment_purpose(iid), spec.sealed_environment
        )
        spec.sealed_environment = ""


def open_desired(key: X25519PrivateKey, device_id: str, desired: Desired) -> None:
    """Open every application's secrets in place. One whose secrets this key cannot open
    becomes an ``InvalidApplication`` (the agent reports INSTALL_ERROR with the reason) and the
    others go ahead."""
    opened: list[ApplicationSpec | InvalidApplication] = []
    for spec in desired.applications:
        if isinstance(spec, ApplicationSpec):
            try:
                open_spec(key, device_id, spec)
            except SealError as exc:
                spec = InvalidApplication(
                    document=spec.model_dump(mode="json"),
                    where="sealed",
                    error=f"its secrets cannot be opened on this appliance: {exc}",
                )
        opened.append(spec)
    desired.applications = opened


def seal_check(seal_public: str, device_id: str, message: CheckStream) -> None:
    if message.username or message.password:
        secret = {"username": message.username, "password": message.password}
        message.sealed = seal(seal_public, device_id, check_purpose(message.check_id), secret)
        message.username = message.password = ""


def open_check(key: X25519PrivateKey, device_id: str, message: CheckStream) -> None:
    if message.sealed:
        secret = open_sealed(key, device_id, check_purpose(message.check_id), message.sealed)
        message.username = secret.get("username", "")
        message.password = secret.get("password", "")
        message.sealed = ""
