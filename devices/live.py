"""Live updates of appliances: which partials change when a device's state changes.

The link (devices/ingest.py) and the console's own actions call these after they have saved a
change; each renders the partial(s) that show it (with devices/presenters.py's context) and
broadcasts them to the ``fleet`` group and to ``device-<device_id>`` (core/live.py sends after
commit, so callers may be in a transaction).
"""

from __future__ import annotations

from collections.abc import Iterable

from core import groups
from core.live import broadcast
from devices import hooks
from devices.models import Device, DeviceJob, DeviceLog
from devices.presenters import (
    LOG_LINES_SHOWN,
    SECTIONS,
    device_context,
    fleet_context,
    health_view,
)

DEVICE_BROADCAST = "devices/partials/broadcast.html"
FLEET_BROADCAST = "devices/partials/broadcast.html#fleet"


# --- broadcasts ---------------------------------------------------------------------------------


def device_updated(device: Device, sections: Iterable[str] = ("status",)) -> None:
    """``device`` changed in the given sections; re-render those for everyone watching."""
    sections = set(sections)
    unknown = sections - set(SECTIONS)
    if unknown:
        raise ValueError(f"device_updated: unknown sections {sorted(unknown)}")
    if not sections:
        return
    device_id = device.device_id
    broadcast(
        groups.device(device_id),
        DEVICE_BROADCAST,
        lambda: device_context(device, sections),
    )
    if sections & {"status", "software", "health", "details"}:
        # The list's row: status, connection, software and heartbeat cells.
        broadcast(groups.FLEET, FLEET_BROADCAST, lambda: fleet_context(device))


def fleet_counts_changed() -> None:
    """A device's aggregated status changed through the link: the dashboard counts follow."""
    for hook in hooks.counts_changed_hooks:  # console: the dashboard's recount
        hook()


def heartbeat_received(device: Device) -> None:
    """A heartbeat renewed the lease: only the device page's health panel changes.

    This runs for every heartbeat of every device (a thousand devices: a hundred a second), so
    it renders from the device in hand, without a query, and leaves the list alone: the list's
    rows change with the status, not with every heartbeat.
    """
    context = {"device": device, "sections": {"health"}, "health": health_view(device.health or {})}
    broadcast(groups.device(device.device_id), DEVICE_BROADCAST, context)


def job_updated(job: DeviceJob) -> None:
    """A job's status changed (its history gained an event)."""
    device_updated(job.device, ["jobs", "status"])


def logs_added(device: Device, entries: list[DeviceLog]) -> None:
    """New log lines arrived for ``device``: append them to every open tail."""
    if not entries:
        return
    lines = sorted(entries, key=lambda entry: (entry.time, entry.pk or 0))
    broadcast(
        groups.device(device.device_id),
        "devices/partials/logs.html#log-append",
        {"device": device, "lines": lines[-LOG_LINES_SHOWN:]},
    )
    for hook in hooks.logs_hooks:  # applications: the lines of its instances
        hook(lines)


def device_deleted(device_id: str, name: str) -> None:
    """The device is gone: its list row disappears, its open pages say so."""
    broadcast(
        [groups.FLEET, groups.device(device_id)],
        "devices/partials/broadcast.html#deleted",
        {"device_id": device_id, "name": name},
    )
