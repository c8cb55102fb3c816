"""A stream check's result: storing it once, the failure shape, and the time limits.

Shared by the start of a check (checks.py), the console-host task (tasks.py) and the
appliance's answer (appliance.py); it imports none of them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.status import NodeFromTemplateJobStatus
from datasources.live import broadcast_check
from datasources.models import StreamCheck


def stale_before(now: datetime) -> datetime:
    """Console-host checks claimed before this belong to a worker that died mid-check."""
    return now - timedelta(seconds=4 * settings.STREAM_CHECK_TIMEOUT_S + 30)


def appliance_wait_s() -> int:
    """How long a check sent to an appliance may take before it counts as failed.

    The appliance needs up to two STREAM_CHECK_TIMEOUT_S (connect, then the first data) and a
    little for the link; STREAM_CHECK_APPLIANCE_WAIT_S overrides it.
    """
    configured = settings.STREAM_CHECK_APPLIANCE_WAIT_S
    return configured if configured else 2 * settings.STREAM_CHECK_TIMEOUT_S + 15


def finish_check(check: StreamCheck, **result) -> bool:
    """Store a pending check's result, unless the check was deleted or finished meanwhile.

    Then broadcast it. A finished check never changes again (an appliance's late answer after
    the check timed out is dropped).
    """
    updated = StreamCheck.objects.filter(
        pk=check.pk, status=NodeFromTemplateJobStatus.PENDING
    ).update(finished=timezone.now(), **result)
    if updated:
        check.refresh_from_db()
        broadcast_check(check.data_source, check)
    return bool(updated)


def failure(message: str, hint: str) -> dict:
    return {
        "status": NodeFromTemplateJobStatus.FAILED,
        "message": message[:500],
        "hint": hint[:500],
    }
