"""Starting stream checks and reading the latest one."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from console.status import NodeFromTemplateJobStatus
from datasources.live import broadcast_check
from datasources.models import DataSource, StreamCheck

logger = logging.getLogger(__name__)
KEEP_CHECKS = 20


def start_check(source: DataSource, user) -> StreamCheck:
    """Record a pending check and hand it to the worker once the row is committed.

    A check still pending is returned instead of queuing another: repeated clicks must not
    fill the worker with probes of the same camera.
    """
    from datasources.tasks import run_stream_check

    pending = source.checks.filter(status=NodeFromTemplateJobStatus.PENDING).first()
    if pending is not None:
        return pending
    check = StreamCheck.objects.create(data_source=source, requested_by=user)
    old = source.checks.order_by("-requested").values_list("pk", flat=True)[KEEP_CHECKS:]
    StreamCheck.objects.filter(pk__in=list(old)).delete()
    # Announce "pending" before the worker can announce a result: on_commit runs in order.
    broadcast_check(source, check)

    def enqueue() -> None:
        try:
            run_stream_check.delay(check.pk)
        except Exception as exc:  # the broker is down: say so rather than stay pending
            logger.error("stream check %s not queued: %s", check.pk, type(exc).__name__)
            finish_check(
                check,
                status=NodeFromTemplateJobStatus.FAILED,
                message="The check could not be queued: the task broker is unreachable.",
                hint="See /healthz and the console's log.",
            )

    transaction.on_commit(enqueue)
    return check


def finish_check(check: StreamCheck, **result) -> bool:
    """Store a pending check's result, unless the check was deleted meanwhile; then broadcast."""
    updated = StreamCheck.objects.filter(
        pk=check.pk, status=NodeFromTemplateJobStatus.PENDING
    ).update(finished=timezone.now(), **result)
    if updated:
        check.refresh_from_db()
        broadcast_check(check.data_source, check)
    return bool(updated)


def with_latest_check(sources: QuerySet[DataSource]) -> QuerySet[DataSource]:
    latest = StreamCheck.objects.order_by("-requested").defer("snapshot")
    return sources.prefetch_related(Prefetch("checks", queryset=latest, to_attr="latest_checks"))
