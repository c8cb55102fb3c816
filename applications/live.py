"""Live updates of application instances (the instance page, the list, the device page)."""

from __future__ import annotations

from applications.models import ApplicationInstance
from console.live import broadcast


def instance_updated(instance: ApplicationInstance) -> None:
    """Status, health or description changed; the timeline gained an event."""
    broadcast(
        [f"app-{instance.application_instance_id}", f"device-{instance.device.device_id}"],
        "applications/partials/live.html#instance-status",
        lambda: {"instance": ApplicationInstance.objects.get(pk=instance.pk)},
    )


def nodes_updated(instance: ApplicationInstance) -> None:
    """Node instance statuses changed."""
    broadcast(
        f"app-{instance.application_instance_id}",
        "applications/partials/live.html#node-statuses",
        lambda: {"instance": ApplicationInstance.objects.get(pk=instance.pk)},
    )
