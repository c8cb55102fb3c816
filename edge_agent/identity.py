"""The appliance's identity after provisioning: who it is, which console it belongs to, its key."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import BaseModel, ValidationError

from devicelink import LINK_PATH, auth, sealing
from edge_agent.config import AgentPaths, write_atomic, write_json

KEY_MODE = 0o600


class Identity(BaseModel):
    device_id: str
    device_name: str
    console_url: str
    link_path: str = LINK_PATH
    heartbeat_s: int = 10
    lease_s: int = 30
    release_public_key: str
    log_public_key: str
    serial_number: str = ""


def load_identity(paths: AgentPaths) -> Identity | None:
    """The stored identity, or None while the appliance is not provisioned."""
    try:
        return Identity.model_validate_json(paths.identity.read_bytes())
    except (OSError, ValidationError):
        return None


def save_identity(paths: AgentPaths, identity: Identity, ca_pem: bytes | None) -> None:
    # The CA goes first: an identity without the CA it needs would make the link fail.
    if ca_pem:
        write_atomic(paths.ca, ca_pem, 0o644)
    write_json(paths.identity, identity.model_dump(), 0o600)


def create_device_key(paths: AgentPaths) -> Ed25519PrivateKey:
    """A new Ed25519 key, stored at ``<data>/device_key.pem`` with mode 0600 from the start."""
    key = auth.generate_private_key()
    write_atomic(paths.key, auth.private_key_pem(key), KEY_MODE)
    return key


def load_device_key(paths: AgentPaths) -> Ed25519PrivateKey:
    return auth.load_private_key(paths.key.read_bytes())


def load_or_create_seal_key(paths: AgentPaths) -> X25519PrivateKey:
    """The X25519 key the console seals this appliance's secrets to (devicelink.sealing).

    Made on first use, so an appliance provisioned by an older agent gets one at its next
    start; a key that cannot be read is replaced (the console seals to whatever key the next
    hello vouches for).
    """
    try:
        return sealing.load_seal_key(paths.seal_key.read_bytes())
    except (OSError, ValueError):
        key = sealing.generate_seal_key()
        write_atomic(paths.seal_key, auth.private_key_pem(key), KEY_MODE)
        return key


def serial_number(data_dir: Path, machine_id_file: Path = Path("/etc/machine-id")) -> str:
    """Twelve digits, stable for this machine and data directory.

    Two simulated appliances on one host differ by their data directory; one appliance keeps
    its serial number across restarts and reinstalls of the agent.
    """
    try:
        machine = machine_id_file.read_text().strip()
    except OSError:
        machine = ""
    digest = hashlib.sha256(f"{machine}\n{data_dir.resolve()}".encode()).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 10**12:012d}"


def ssl_context(console_url: str, ca_file: Path | None) -> ssl.SSLContext | None:
    """The TLS context for the console: its private CA when the archive brought one."""
    if urlsplit(console_url).scheme != "https":
        return None
    if ca_file is not None and ca_file.exists():
        return ssl.create_default_context(cafile=str(ca_file))
    return ssl.create_default_context()
