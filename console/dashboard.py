"""Dashboard numbers: devices, cameras and applications by status, kept live.

Any save or delete of a counted model, from any process, re-renders the counts partial and
broadcasts it to the ``fleet`` group. The device link writes with UPDATEs (no signals) and asks
for a recount with ``console.tasks.broadcast_dashboard_soon()`` instead (through
devices.hooks): a fleet coming online changes the
counts a thousand times in a few seconds, and one recount a second, done by the worker, shows
the same numbers.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.db.models.signals import post_delete, post_save

from applications.models import ApplicationInstance
from core import groups
from core.live import broadcast
from core.status import (
    ApplicationInstanceHealthStatus,
    ApplicationInstanceStatus,
    DeviceAggregatedStatus,
)
from datasources.models import DataSource
from devices.models import Device

COUNTS_PARTIAL = "console/dashboard.html#dashboard-counts"


def _by_value(rows: list[dict], key: str) -> dict[str, int]:
    return {row[key]: row["n"] for row in rows}


def dashboard_counts() -> dict[str, Any]:
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


def _on_change(sender, **kwargs) -> None:
    broadcast_dashboard()


def connect_signals() -> None:
    for model in (Device, DataSource, ApplicationInstance):
        post_save.connect(_on_change, sender=model, dispatch_uid=f"dashboard-save-{model.__name__}")
        post_delete.connect(
            _on_change, sender=model, dispatch_uid=f"dashboard-delete-{model.__name__}"
        )
