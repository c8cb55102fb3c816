"""Agent software images: upload (check, sign, store), delete, and which devices need one.

The bundle bytes live in the asset store under ``software_storage_name(version)``; the link's
download endpoint (``GET /agent/v1/software/<version>``) opens that name. The database keeps the
version, size, sha256 and the release signature the appliance verifies before installing.
"""

from __future__ import annotations

import hashlib
from typing import IO

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import QuerySet

from core.status import UpdateProgress
from core.storage import asset_storage
from devicelink.releases import (
    MAX_BUNDLE_BYTES,
    ReleaseError,
    inspect_bundle,
    parse_version,
    sign_release,
)
from devices import keys, live
from devices.models import TERMINAL_JOB_STATUSES, Device, DeviceJob, SoftwareImage


def software_storage_name(version: str) -> str:
    return f"software/{version}.tar.gz"


def _read_upload(file: IO[bytes]) -> bytes:
    size = getattr(file, "size", None)
    if size is not None and size > MAX_BUNDLE_BYTES:
        raise ValidationError({"file": "The bundle is larger than 200 MiB."})
    data = file.read(MAX_BUNDLE_BYTES + 1)
    if len(data) > MAX_BUNDLE_BYTES:
        raise ValidationError({"file": "The bundle is larger than 200 MiB."})
    return data


def add_image(
    file: IO[bytes], version: str, notes: str, required: bool, user=None
) -> SoftwareImage:
    """Check, sign and store an agent release bundle; ValidationError names the field at fault.

    An empty ``version`` takes the bundle's own; a typed one must equal it.
    """
    data = _read_upload(file)
    try:
        info = inspect_bundle(data)
    except ReleaseError as exc:
        raise ValidationError({"file": str(exc)}) from None
    version = (version or "").strip() or info.version
    try:
        major, minor, patch = parse_version(version)
    except ValueError as exc:
        raise ValidationError({"version": str(exc)}) from None
    if version != info.version:
        raise ValidationError(
            {
                "version": f"The bundle is version {info.version}, not {version}. Leave the "
                "version empty to take the bundle's."
            }
        )
    if SoftwareImage.objects.filter(version=version).exists():
        raise ValidationError({"version": f"Version {version} is uploaded already."})
    sha256 = hashlib.sha256(data).hexdigest()
    signature = sign_release(keys.release_signing_key(), version, sha256)
    storage = asset_storage()
    name = software_storage_name(version)
    if storage.exists(name):
        # Left over from an image that was deleted, or an upload that failed half-way.
        storage.delete(name)
    saved = storage.save(name, ContentFile(data, name=f"{version}.tar.gz"))
    try:
        with transaction.atomic():
            image = SoftwareImage.objects.create(
                version=version,
                major=major,
                minor=minor,
                patch=patch,
                notes=notes or "",
                required=bool(required),
                sha256=sha256,
                size=len(data),
                signature=signature,
                uploaded_by=user if getattr(user, "is_authenticated", False) else None,
            )
    except Exception:
        storage.delete(saved)
        raise
    refresh_update_needed()
    return image


def jobs_using(image: SoftwareImage) -> QuerySet[DeviceJob]:
    """Unfinished update jobs that install ``image``."""
    return DeviceJob.objects.filter(image_version=image.version).exclude(
        status__in=TERMINAL_JOB_STATUSES
    )


def delete_image(image: SoftwareImage) -> None:
    """Delete an image and its bytes; ValidationError while an unfinished job installs it."""
    busy = list(jobs_using(image).select_related("device")[:5])
    if busy:
        names = ", ".join(f"{job.job_id} on {job.device.name}" for job in busy)
        raise ValidationError(
            f"Version {image.version} is being installed ({names}); delete it after the "
            f"update{'s' if len(busy) > 1 else ''} finished."
        )
    version = image.version
    image.delete()
    storage = asset_storage()
    name = software_storage_name(version)
    if storage.exists(name):
        storage.delete(name)
    refresh_update_needed()


def _needs_update(current: str, required: tuple[int, int, int] | None) -> bool:
    if required is None:
        return False
    try:
        return parse_version(current) < required
    except ValueError:
        # No version reported yet: nothing to compare, so no prompt.
        return False


def refresh_update_needed(devices: QuerySet | None = None) -> None:
    """Set ``Device.update_needed``: a required image newer than the device's software exists.

    For ``devices`` (all devices when None). Devices whose flag changes are re-rendered live,
    since the flag is part of their aggregated status.
    """
    newest_required = (
        SoftwareImage.objects.filter(required=True).order_by("-major", "-minor", "-patch").first()
    )
    required = newest_required.version_tuple if newest_required else None
    queryset = devices if devices is not None else Device.objects.all()
    changed = []
    for device in queryset.only("pk", "device_id", "current_software", "update_needed"):
        needed = _needs_update(device.current_software, required)
        if needed != device.update_needed:
            changed.append(device.pk)
            Device.objects.filter(pk=device.pk).update(update_needed=needed)
    for device in Device.objects.filter(pk__in=changed):
        live.device_updated(device, ["status", "software"])


def update_in_progress_statuses() -> tuple[str, ...]:
    """Job statuses during which the appliance is installing (its light is orange)."""
    return (UpdateProgress.DOWNLOADING, UpdateProgress.VERIFYING, UpdateProgress.IN_PROGRESS)
