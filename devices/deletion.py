"""Deleting a device from the console (the appliance itself is not touched).

The device's id stays refused (DeletedDevice), so an appliance that still holds its key is told
why its requests fail; its link, if connected, is closed with the reason.
"""

from __future__ import annotations

from django.db import transaction

from devices import desired, live
from devices.models import DeletedDevice, Device

REVOKE_REASON = "This device was deleted from the console."


def delete_device(device: Device, user=None) -> None:
    """Delete ``device`` with its credentials, jobs, logs and application instances."""
    device_id, name = device.device_id, device.name
    with transaction.atomic():
        DeletedDevice.objects.update_or_create(device_id=device_id, defaults={"name": name})
        # Application instances cannot run without their device; their rows protect it.
        device.application_instances.all().delete()
        device.delete()
        desired.revoke(device_id, REVOKE_REASON)
        live.device_deleted(device_id, name)
