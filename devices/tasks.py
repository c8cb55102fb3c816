"""Background work for appliances."""

from __future__ import annotations

from celery import shared_task

from devices.agent_auth import forget_old_nonces
from devices.ingest import expire_leases


@shared_task
def expire_device_leases() -> int:
    """Scheduled by beat: devices whose lease ran out without a heartbeat go OFFLINE; the
    nonces of signed requests too old to pass the clock check are forgotten."""
    forget_old_nonces()
    return len(expire_leases())
