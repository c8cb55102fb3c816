"""Stream checks run by the Celery worker (from the console host)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from console.status import NodeFromTemplateJobStatus
from datasources.live import broadcast_check
from datasources.models import StreamCheck
from streamcheck import StreamCheckFailed, StreamInfo, probe

logger = logging.getLogger(__name__)


def _claim(check_id: int) -> bool:
    """Take a pending check; of two workers given the same id, only one gets it.

    A claim older than a check could ever take belongs to a worker that died mid-check (the
    task is acknowledged late, so the broker hands it out again): it may be taken over.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=4 * settings.STREAM_CHECK_TIMEOUT_S + 30)
    return bool(
        StreamCheck.objects.filter(pk=check_id, status=NodeFromTemplateJobStatus.PENDING)
        .filter(Q(started__isnull=True) | Q(started__lt=stale))
        .update(started=now)
    )


def _succeeded(check: StreamCheck, info: StreamInfo) -> None:
    check.status = NodeFromTemplateJobStatus.SUCCEEDED
    check.codec, check.width, check.height = info.codec, info.width, info.height
    check.fps, check.first_frame_ms = info.fps, info.first_frame_ms
    check.snapshot = info.snapshot_jpeg


def _failed(check: StreamCheck, message: str, hint: str) -> None:
    check.status = NodeFromTemplateJobStatus.FAILED
    check.message, check.hint = message[:500], hint[:500]


@shared_task
def run_stream_check(check_id: int) -> None:
    if not _claim(check_id):
        return
    check = StreamCheck.objects.select_related("data_source").get(pk=check_id)
    source = check.data_source
    try:
        username, password = source.credentials()
        info = probe(
            source.url,
            username,
            password,
            open_timeout=settings.STREAM_CHECK_TIMEOUT_S,
            read_timeout=settings.STREAM_CHECK_TIMEOUT_S,
        )
    except StreamCheckFailed as failure:
        _failed(check, failure.message, failure.hint)
        logger.info("stream check of %s failed: %s", source.name, failure.message)
    except Exception as exc:  # the check must end, whatever went wrong
        # Only the type: messages of lower layers may carry the URL with its credentials.
        logger.error("stream check of %s could not run: %s", source.name, type(exc).__name__)
        _failed(
            check,
            f"The check could not run ({type(exc).__name__}).",
            "See the worker's log; if the saved credentials cannot be decrypted, enter them again.",
        )
    else:
        _succeeded(check, info)
        logger.info("stream check of %s succeeded", source.name)
    check.finished = timezone.now()
    check.save()
    broadcast_check(source)
