"""The configuration archive, ``certificates-omni_<name>.zip``, that the setup wizard hands out.

It holds ``vantage-device.json`` (what the appliance needs to find the console and prove it is
the device the operator set up) and, when the console uses a private certificate authority,
``console-ca.pem``. It holds no console secret: the provisioning token is the device's own
one-time credential, the keys in it are public keys.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from devicelink.network import NetworkPayload

ARCHIVE_PATTERN = re.compile(r"^certificates-omni_([a-zA-Z0-9_-]{1,255})\.zip$")
CONFIG_MEMBER = "vantage-device.json"
CA_MEMBER = "console-ca.pem"
FORMAT = "vantage-device-archive/1"
MAX_ARCHIVE_BYTES = 1024 * 1024


class ArchiveError(Exception):
    """The archive cannot be used; the message says why, for the provisioning log."""


def archive_name(device_name: str) -> str:
    return f"certificates-omni_{device_name}.zip"


class DeviceArchive(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = FORMAT
    console_url: str
    device_id: str
    device_name: str
    provisioning_token: str
    credential_id: str
    expires_at: datetime
    network: NetworkPayload = Field(default_factory=NetworkPayload)
    release_public_key: str
    log_public_key: str
    heartbeat_s: int = 10


def build_archive(config: DeviceArchive, ca_pem: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(CONFIG_MEMBER, config.model_dump_json(indent=2))
        if ca_pem:
            archive.writestr(CA_MEMBER, ca_pem)
    return buffer.getvalue()


def read_archive(data: bytes) -> tuple[DeviceArchive, bytes | None]:
    """The archive's configuration and CA certificate; ArchiveError says what is wrong."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ArchiveError("The archive is larger than a configuration archive can be (1 MiB).")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if CONFIG_MEMBER not in names:
                raise ArchiveError(
                    f"The archive holds no {CONFIG_MEMBER}; download it again from the console."
                )
            raw = archive.read(CONFIG_MEMBER)
            ca_pem = archive.read(CA_MEMBER) if CA_MEMBER in names else None
    except zipfile.BadZipFile:
        raise ArchiveError("The file is not a ZIP archive (is the download complete?).") from None
    try:
        document = json.loads(raw)
    except ValueError:
        raise ArchiveError(f"{CONFIG_MEMBER} is not valid JSON.") from None
    if isinstance(document, dict) and document.get("format") != FORMAT:
        raise ArchiveError(
            f"{CONFIG_MEMBER} has format {document.get('format')!r}; this agent reads {FORMAT}."
        )
    try:
        return DeviceArchive.model_validate(document), ca_pem
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ArchiveError(f"{CONFIG_MEMBER}: {where}: {first['msg']}") from None
