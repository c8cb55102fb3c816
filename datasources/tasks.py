"""Stream checks run by the Celery worker (from the console host)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from console.status import NodeFromTemplateJobStatus
from datasources.live import broadcast_check
from datasources.models import StreamCheck
from streamcheck import StreamCheckFailed, probe

logger = logging.getLogger(__name__)


@shared_task
def run_stream_check(check_id: int) -> None:
    # Claim the check: of two workers given the same id, only one runs it.
    claimed = StreamCheck.objects.filter(
        pk=check_id, status=NodeFromTemplateJobStatus.PENDING, finished__isnull=True
    ).update(finished=timezone.now())
    if not claimed:
        return
    check = StreamCheck.objects.select_related("data_source").get(pk=check_id)
    source = check.data_source
    username, password = source.credentials()
    try:
        info = probe(
            source.url,
            username,
            password,
            open_timeout=settings.STREAM_CHECK_TIMEOUT_S,
            read_timeout=settings.STREAM_CHECK_TIMEOUT_S,
        )
    except StreamCheckFailed as failure:
        check.status = NodeFromTemplateJobStatus.FAILED
        check.message, check.hint = failure.message[:500], failure.hint[:500]
        logger.info("stream check of %s failed: %s", source.name, failure.message)
    else:
        check.status = NodeFromTemplateJobStatus.SUCCEEDED
        check.codec, check.width, check.height = info.codec, info.width, info.height
        check.fps, check.first_frame_ms = info.fps, info.first_frame_ms
        check.snapshot = info.snapshot_jpeg
        logger.info("stream check of %s succeeded", source.name)
    check.finished = timezone.now()
    check.save()
    broadcast_check(source)
