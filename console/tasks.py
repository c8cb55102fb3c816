"""Background tasks of the console itself."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from console.dashboard import broadcast_dashboard
from core.models import ServiceHeartbeat
from core.sharedcache import shared_cache


@shared_task
def record_worker_heartbeat() -> None:
    """Scheduled by beat, run by the worker: proves both are alive (see /healthz)."""
    ServiceHeartbeat.objects.update_or_create(name="worker", defaults={"seen": timezone.now()})


@shared_task
def refresh_dashboard() -> None:
    """Re-send the dashboard numbers now and then, in case a page missed an update."""
    broadcast_dashboard()


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
            refresh_dashboard.apply_async(countdown=RECOUNT_COALESCE_S)

    transaction.on_commit(queue, robust=True)
