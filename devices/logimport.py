"""Offline log export: reading a ``panorama_device_log_v1_dd_hh_mm.img`` an appliance wrote.

An appliance that cannot reach the console writes its logs to its USB drive, encrypted to this
console's log image key; an administrator uploads the file on the device page.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import IO

from django.core.exceptions import ValidationError
from pydantic import ValidationError as PydanticError

from devicelink.logimage import MAX_IMAGE_BYTES, LogImageError, decrypt_log_image
from devicelink.messages import LogEntry
from devices import keys, live
from devices.models import DeletedDevice, Device, DeviceLog

SOURCE_MAX = DeviceLog._meta.get_field("source").max_length


def source_name(uploaded_file: IO[bytes]) -> str:
    """The file's own name (no folders), as the logs' ``source``."""
    name = os.path.basename(str(getattr(uploaded_file, "name", "") or "log-image.img"))
    return name[:SOURCE_MAX] or "log-image.img"


def _writer_name(device_id: str) -> str:
    other = Device.objects.filter(device_id=device_id).first()
    if other is not None:
        return f"device {other.name} ({device_id})"
    gone = DeletedDevice.objects.filter(device_id=device_id).first()
    if gone is not None:
        return f"the deleted device {gone.name} ({device_id})"
    return f"device {device_id}, which this console does not know"


def import_log_image(device: Device, uploaded_file: IO[bytes]) -> int:
    """Store the image's log lines as DeviceLog rows; returns how many were new.

    ValidationError (a sentence for the form) when the file is not a log image of this
    console, was written by another device, or holds malformed entries.
    """
    size = getattr(uploaded_file, "size", None)
    if size is not None and size > MAX_IMAGE_BYTES:
        raise ValidationError("The file is larger than a log image can be (64 MiB).")
    data = uploaded_file.read(MAX_IMAGE_BYTES + 1)
    try:
        document = decrypt_log_image(keys.log_image_key(), data)
    except LogImageError as exc:
        raise ValidationError(str(exc)) from None
    written_by = str(document.get("device_id", ""))
    if written_by != device.device_id:
        raise ValidationError(
            f"This log image was written by {_writer_name(written_by)}, not by {device.name}. "
            "Upload it on that device's page."
        )
    entries = []
    for number, raw in enumerate(document["entries"], start=1):
        try:
            entries.append(LogEntry.model_validate(raw))
        except PydanticError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "entry"
            raise ValidationError(
                f"Entry {number} of the log image is malformed ({where}: {error['msg']}); "
                "nothing was imported."
            ) from None
    source = source_name(uploaded_file)
    # Uploading the same file again adds nothing: lines already stored from it are skipped.
    seen = set(
        DeviceLog.objects.filter(device=device, source=source).values_list(
            "time", "stream", "level", "message"
        )
    )
    rows = []
    for number, entry in enumerate(entries, start=1):
        try:
            when = datetime.fromtimestamp(entry.time, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValidationError(
                f"Entry {number} of the log image has an impossible time ({entry.time}); "
                "nothing was imported."
            ) from None
        key = (when, entry.stream, entry.level, entry.message)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            DeviceLog(
                device=device,
                time=when,
                stream=entry.stream,
                level=entry.level,
                message=entry.message,
                source=source,
            )
        )
    DeviceLog.objects.bulk_create(rows, batch_size=500)
    if rows:
        live.device_updated(device, ["logs"])
    return len(rows)
