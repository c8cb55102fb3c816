"""Starting stream checks and reading the latest one."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Prefetch, QuerySet

from datasources.live import broadcast_check
from datasources.models import DataSource, StreamCheck

KEEP_CHECKS = 20


def start_check(source: DataSource, user) -> StreamCheck:
    """Record a pending check and hand it to the worker once the row is committed."""
    from datasources.tasks import run_stream_check

    check = StreamCheck.objects.create(data_source=source, requested_by=user)
    old = source.checks.order_by("-requested").values_list("pk", flat=True)[KEEP_CHECKS:]
    StreamCheck.objects.filter(pk__in=list(old)).delete()
    # Announce "pending" before the worker can announce a result: on_commit runs in order.
    broadcast_check(source)
    transaction.on_commit(lambda: run_stream_check.delay(check.pk))
    return check


def with_latest_check(sources: QuerySet[DataSource]) -> QuerySet[DataSource]:
    latest = StreamCheck.objects.order_by("-requested").defer("snapshot")
    return sources.prefetch_related(Prefetch("checks", queryset=latest, to_attr="latest_checks"))
