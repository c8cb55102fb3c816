"""Agent release bundles: what an administrator uploads and an appliance installs by OTA.

A bundle is a gzip'd tar holding ``vantage-release.json`` (``{"format": ..., "version": "1.2.0"}``)
and the Python packages the agent runs from (``edge_agent`` and the shared ones it imports).
The console checks a bundle when it is uploaded and signs ``version`` + sha256 with its release
key (Ed25519); an appliance verifies hash and signature with the release public key it received
in its configuration archive before it installs anything.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devicelink.auth import load_public_key

FORMAT = "vantage-agent-release/1"
MANIFEST_MEMBER = "vantage-release.json"
AGENT_PACKAGES = ("edge_agent", "devicelink", "streamcheck", "manifests", "panoramasdk")
MAX_BUNDLE_BYTES = 200 * 1024 * 1024
_VERSION = re.compile(r"^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$")
_INIT_VERSION = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)


class ReleaseError(Exception):
    """A bundle is unusable or untrusted; the message says why."""


def parse_version(text: str) -> tuple[int, int, int]:
    match = _VERSION.match(text.strip())
    if not match:
        raise ValueError(
            f"{text!r} is not a software version; use MAJOR.MINOR.PATCH numbers such as 1.4.2."
        )
    return (int(match[1]), int(match[2]), int(match[3]))


def check_update_allowed(current: str, target: str, *, allow_major: bool) -> None:
    """ReleaseError unless going from ``current`` to ``target`` is an allowed update."""
    try:
        old, new = parse_version(current), parse_version(target)
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None
    if new < old:
        raise ReleaseError(
            f"Version {target} is older than the installed {current}; downgrades are refused."
        )
    if new == old:
        raise ReleaseError(f"Version {target} is already installed.")
    if new[0] > old[0] and not allow_major:
        raise ReleaseError(
            f"Version {target} is a major-version update from {current}; it needs "
            "AllowMajorVersionUpdate."
        )


@dataclass(frozen=True)
class ReleaseInfo:
    version: str
    files: int


def _members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for member in members:
        name = member.name
        if name.startswith("/") or ".." in Path(name).parts:
            raise ReleaseError(f"The bundle member {name!r} points outside the bundle.")
        if not (member.isfile() or member.isdir()):
            raise ReleaseError(f"The bundle member {name!r} is not a plain file or folder.")
    return members


def inspect_bundle(data: bytes) -> ReleaseInfo:
    """Check a bundle's layout and return its version; ReleaseError says what is wrong."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise ReleaseError("The bundle is larger than 200 MiB.")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = _members(tar)
            names = {member.name.removeprefix("./") for member in members}
            if MANIFEST_MEMBER not in names:
                raise ReleaseError(f"The bundle has no {MANIFEST_MEMBER}.")
            if "edge_agent/__init__.py" not in names or "edge_agent/__main__.py" not in names:
                raise ReleaseError("The bundle holds no edge_agent package to run.")
            manifest_file = tar.extractfile(tar.getmember(_member_name(tar, MANIFEST_MEMBER)))
            manifest = json.loads(manifest_file.read()) if manifest_file else None
    except (tarfile.TarError, EOFError, OSError):
        raise ReleaseError("The file is not a gzip'd tar bundle.") from None
    except ValueError:
        raise ReleaseError(f"{MANIFEST_MEMBER} is not valid JSON.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ReleaseError(f"{MANIFEST_MEMBER} must have format {FORMAT!r}.")
    version = str(manifest.get("version", ""))
    try:
        parse_version(version)
    except ValueError as exc:
        raise ReleaseError(f"{MANIFEST_MEMBER}: {exc}") from None
    return ReleaseInfo(version=version, files=sum(1 for m in members if m.isfile()))


def _member_name(tar: tarfile.TarFile, name: str) -> str:
    return name if name in tar.getnames() else f"./{name}"


def signing_message(version: str, sha256: str) -> bytes:
    return f"VANTAGE-RELEASE-V1\n{version}\n{sha256}".encode()


def sign_release(key: Ed25519PrivateKey, version: str, sha256: str) -> str:
    return base64.b64encode(key.sign(signing_message(version, sha256))).decode()


def verify_release(public_key: str, version: str, sha256: str, signature: str) -> None:
    try:
        raw = base64.b64decode(signature, validate=True)
        load_public_key(public_key).verify(raw, signing_message(version, sha256))
    except (InvalidSignature, ValueError, binascii.Error):
        raise ReleaseError(
            f"The signature of release {version} does not verify with the console's release key."
        ) from None


def build_bundle(source_root: Path, version: str, *, notes: str = "") -> bytes:
    """A bundle of this checkout's agent packages, stamped with ``version``."""
    parse_version(version)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        manifest = json.dumps({"format": FORMAT, "version": version, "notes": notes}).encode()
        _add_bytes(tar, MANIFEST_MEMBER, manifest)
        for package in AGENT_PACKAGES:
            root = source_root / package
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*.py")):
                relative = path.relative_to(source_root)
                if "__pycache__" in relative.parts or "tests" in relative.parts:
                    continue
                content = path.read_bytes()
                if relative.as_posix() == "edge_agent/__init__.py":
                    content = _INIT_VERSION.sub(
                        f'__version__ = "{version}"', content.decode()
                    ).encode()
                _add_bytes(tar, relative.as_posix(), content)
    return buffer.getvalue()


def _add_bytes(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(content))


def extract_bundle(data: bytes, target: Path) -> None:
    """Unpack a checked bundle into ``target`` (which must not exist yet)."""
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        _members(tar)
        tar.extractall(target, filter="data")
