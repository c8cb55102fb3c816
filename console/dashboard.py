"""Dashboard numbers: devices, cameras and applications by status, kept live.

Any save or delete of a counted model, from any process, re-renders the counts partial and
broadcasts it to the ``fleet`` group. The device link writes with UPDATEs (no signals) and asks
for a recount with ``broadcast_dashboard_soon()`` instead: a fleet coming online changes the
counts a thousand times in a few seconds, and one recount a second, done by the worker, shows
the same numbers.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count
from django.db.models.signals import post_delete, post_save

from core import groups
from core.live import broadcast
from core.sharedcache import shared_cache
from core.status import (
    ApplicationInstanceHealthStatus,
    ApplicationInstanceStatus,
    DeviceAggregatedStatus,
)

COUNTS_PARTIAL = "console/dashboard.html#dashboard-counts"


def _by_value(rows: list[dict], key: str) -> dict[str, int]:
    return {row[key]: row["n"] for row in rows}


def dashboard_counts() -> dict[str, Any]:
    from applications.models import ApplicationInstance
    from datasources.models import DataSource
    from devices.models import Device

    device_rows = list(
        Device.objects.with_aggregated_status().values("aggregated").annotate(n=Count("pk"))
    )
    app_rows = list(ApplicationInstance.objects.values("status").annotate(n=Count("pk")))
    health_rows = list(ApplicationInstance.objects.values("health_status").annotate(n=Count("pk")))
    devices_by = _by_value(device_rows, "aggregated")
    apps_by = _by_value(app_rows, "status")
    health_by = _by_value(health_rows, "health_status")
    return {
        "devices_total": sum(devices_by.values()),
        "devices_by_status": [
            (value, devices_by[value])
            for value in DeviceAggregatedStatus.values
            if value in devices_by
        ],
        "cameras_total": DataSource.objects.count(),
        "cameras_test_sources": DataSource.objects.filter(url__startswith="file://").count(),
        "applications_total": sum(apps_by.values()),
        "applications_by_status": [
            (value, apps_by[value])
            for value in ApplicationInstanceStatus.values
            if value in apps_by
        ],
        "applications_by_health": [
            (value, health_by[value])
            for value in ApplicationInstanceHealthStatus.values
            if value in health_by
        ],
    }


def broadcast_dashboard() -> None:
    broadcast(groups.FLEET, COUNTS_PARTIAL, lambda: {"counts": dashboard_counts()})


RECOUNT_COALESCE_S = 1
RECOUNT_QUEUED_KEY = "dashboard-recount-queued"


def broadcast_dashboard_soon() -> None:
    """The counts changed: recount within about a second, once for all changes till then.

    The first change of a burst queues the worker's recount for a second later and holds a
    cache key for that second (shared by every process with Redis); later changes find the
    key and rely on that recount, which runs after they committed. After commit, so a change
    rolled back queues nothing.
    """

    def queue() -> None:
        if shared_cache().add(RECOUNT_QUEUED_KEY, 1, RECOUNT_COALESCE_S):
            from console.tasks import refresh_dashboard

            refresh_dashboard.apply_async(countdown=RECOUNT_COALESCE_S)

    transaction.on_commit(queue, robust=True)


def _on_change(sender, **kwargs) -> None:
    broadcast_dashboard()


def connect_signals() -> None:
    from applications.models import ApplicationInstance
    from datasources.models import DataSource
    from devices.models import Device

    for model in (Device, DataSource, ApplicationInstance):
        post_save.connect(_on_change, sender=model, dispatch_uid=f"dashboard-save-{model.__name__}")
        post_delete.connect(
            _on_change, sender=model, dispatch_uid=f"dashboard-delete-{model.__name__}"
        )
