"""Background tasks of the console itself."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from console.dashboard import broadcast_dashboard
from core.models import ServiceHeartbeat


@shared_task
def record_worker_heartbeat() -> None:
    """Scheduled by beat, run by the worker: proves both are alive (see /healthz)."""
    ServiceHeartbeat.objects.update_or_create(name="worker", defaults={"seen": timezone.now()})


@shared_task
def refresh_dashboard() -> None:
    """Re-send the dashboard numbers now and then, in case a page missed an update."""
    broadcast_dashboard()
