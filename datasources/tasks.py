"""Stream checks run by the Celery worker (from the console host)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from core.status import NodeFromTemplateJobStatus
from datasources.models import ON_CONSOLE, StreamCheck
from datasources.results import failure, finish_check, stale_before
from datasources.streams import validate_stream_url
from streamcheck import StreamCheckFailed, probe

logger = logging.getLogger(__name__)


def _claim(check_id: int) -> bool:
    """Take a pending check; of two workers given the same id, only one gets it.

    A claim older than a check could ever take belongs to a worker that died mid-check (the
    task is acknowledged late, so the broker hands it out again): it may be taken over.
    """
    now = timezone.now()
    return bool(
        StreamCheck.objects.filter(
            pk=check_id, status=NodeFromTemplateJobStatus.PENDING, ran_on=ON_CONSOLE
        )
        .filter(Q(started__isnull=True) | Q(started__lt=stale_before(now)))
        .update(started=now)
    )


@shared_task
def run_stream_check(check_id: int) -> None:
    if not _claim(check_id):
        return
    check = StreamCheck.objects.select_related("data_source").filter(pk=check_id).first()
    if check is None:  # deleted (with its camera) right after it was claimed
        return
    source = check.data_source
    try:
        # Checked again here: TEST_MEDIA_DIRS may have changed since the URL was saved.
        validate_stream_url(source.url)
        username, password = source.credentials()
        info = probe(
            source.url,
            username,
            password,
            open_timeout=settings.STREAM_CHECK_TIMEOUT_S,
            read_timeout=settings.STREAM_CHECK_TIMEOUT_S,
        )
    except ValidationError as invalid:
        result = failure(" ".join(invalid.messages), "Edit the stream's URL.")
    except StreamCheckFailed as failed:
        result = failure(failed.message, failed.hint)
        logger.info("stream check of %s failed: %s", source.name, failed.message)
    except Exception as exc:  # the check must end, whatever went wrong
        # Only the type: messages of lower layers may carry the URL with its credentials.
        logger.error("stream check of %s could not run: %s", source.name, type(exc).__name__)
        result = failure(
            f"The check could not run ({type(exc).__name__}).",
            "See the worker's log; if the saved credentials cannot be decrypted, enter them again.",
        )
    else:
        logger.info("stream check of %s succeeded", source.name)
        result = {
            "status": NodeFromTemplateJobStatus.SUCCEEDED,
            "codec": info.codec,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "first_frame_ms": info.first_frame_ms,
            "snapshot": info.snapshot_jpeg,
        }
    # The check (or its camera) may have been deleted during the probe: nothing is re-created.
    finish_check(check, **result)
