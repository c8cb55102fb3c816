"""Background work for appliances."""

from __future__ import annotations

from celery import shared_task

from devices.ingest import expire_leases


@shared_task
def expire_device_leases() -> int:
    """Scheduled by beat: devices whose lease ran out without a heartbeat go OFFLINE."""
    return len(expire_leases())
