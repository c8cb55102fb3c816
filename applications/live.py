"""Live updates of application instances: the instance page, the list, the device page.

The workflow (applications/deployments.py) calls ``instance_updated`` after every transition
and ``nodes_updated`` after a device report. Each renders the very partials the pages render
(templates/applications/partials/instance.html and rows.html), with the same context
(``instance_context``), and broadcasts them: the instance page's regions to ``app-<id>``, the
list row's cells to ``fleet`` and to ``device-<device_id>``. core/live.py sends after commit,
so callers may be inside a transaction. Fragments carry no secrets and nothing that depends on
who watches (the Pause/Resume buttons in the node table post a form that only operators' pages
have).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Prefetch

from applications.models import ApplicationInstance, InstanceEvent, NodeInstance
from core import groups
from core.live import broadcast

SECTIONS = ("status", "timeline", "nodes")
INSTANCE_BROADCAST = "applications/partials/broadcast.html"
ROW_BROADCAST = "applications/partials/broadcast.html#row"


def instance_context(instance: ApplicationInstance, sections: Iterable[str] = SECTIONS):
    """What the instance page's live partials need (a fresh read of the instance)."""
    fresh = (
        ApplicationInstance.objects.select_related("device")
        .prefetch_related(
            Prefetch("events", queryset=InstanceEvent.objects.order_by("time", "id")),
            Prefetch("node_instances", queryset=NodeInstance.objects.select_related("data_source")),
        )
        .filter(pk=instance.pk)
        .first()
    )
    context: dict[str, Any] = {"instance": fresh, "sections": set(sections)}
    if fresh is not None:
        context["events"] = list(fresh.events.all())
        context["nodes"] = list(fresh.node_instances.all())
    return context


def _row_context(pk: int) -> dict[str, Any]:
    return {"instance": ApplicationInstance.objects.select_related("device").filter(pk=pk).first()}


def instance_updated(instance: ApplicationInstance) -> None:
    """Status, health or description changed; the timeline gained an event."""
    broadcast(
        groups.app(instance.application_instance_id),
        INSTANCE_BROADCAST,
        lambda: instance_context(instance),
    )
    broadcast(
        [groups.FLEET, groups.device(instance.device.device_id)],
        ROW_BROADCAST,
        lambda: _row_context(instance.pk),
    )


def nodes_updated(instance: ApplicationInstance) -> None:
    """Node instance statuses changed."""
    broadcast(
        groups.app(instance.application_instance_id),
        INSTANCE_BROADCAST,
        lambda: instance_context(instance, ["nodes"]),
    )
