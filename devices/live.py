"""Live updates of appliances: which partials change when a device's state changes.

The link (devices/ingest.py) and the console's own actions call these after they have saved a
change; each renders the partial(s) that show it and broadcasts them to the ``fleet`` group and
to ``device-<device_id>`` (console/live.py sends after commit, so callers may be in a
transaction).
"""

from __future__ import annotations

from collections.abc import Iterable

from console.live import broadcast
from devices.models import Device, DeviceJob, DeviceLog

# What a change can touch on the device page and the list.
SECTIONS = ("status", "network", "software", "health", "jobs", "logs", "details")


def device_updated(device: Device, sections: Iterable[str] = ("status",)) -> None:
    """``device`` changed in the given sections; re-render those for everyone watching."""
    sections = set(sections)
    unknown = sections - set(SECTIONS)
    if unknown:
        raise ValueError(f"device_updated: unknown sections {sorted(unknown)}")
    if "status" in sections:
        broadcast(
            ["fleet", f"device-{device.device_id}"],
            "devices/partials/live.html#device-status",
            lambda: {"device": Device.objects.with_aggregated_status().get(pk=device.pk)},
        )


def job_updated(job: DeviceJob) -> None:
    """A job's status changed (its history gained an event)."""
    device_updated(job.device, ["jobs", "status"])


def logs_added(device: Device, entries: list[DeviceLog]) -> None:
    """New log lines arrived for ``device`` (for the live tail)."""
