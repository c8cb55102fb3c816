"""Agent software images: storage names and which devices need an update."""

from __future__ import annotations

from django.db.models import QuerySet

from devicelink.releases import parse_version
from devices.models import Device, SoftwareImage


def software_storage_name(version: str) -> str:
    return f"software/{version}.tar.gz"


def refresh_update_needed(devices: QuerySet | None = None) -> None:
    """Set ``Device.update_needed``: a required image newer than the device's software exists."""
    required = [image.version_tuple for image in SoftwareImage.objects.filter(required=True)]
    newest = max(required, default=None)
    for device in devices if devices is not None else Device.objects.all():
        try:
            current = parse_version(device.current_software)
        except ValueError:
            current = None
        needed = newest is not None and current is not None and newest > current
        if needed != device.update_needed:
            Device.objects.filter(pk=device.pk).update(update_needed=needed)
