"""Stream checks run on an appliance: what its link sends, what it stores, and time-outs.

The device link consumer (devices/link.py) hands a check to its appliance as a ``check_stream``
message (docs/protocol.md) when told ``link.check_stream`` through the channel layer, and again
for checks still unsent when the appliance says hello. It reads the credentials itself, here, so
that they never pass through the channel layer. The appliance answers with a ``stream_check``
report, stored by ``store_result``. ``expire_appliance_checks`` (run with the lease check every
few seconds) fails checks whose appliance went away or did not answer in time.

Plain synchronous functions over the ORM; the consumer calls them in a thread.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.status import DeviceConnectionStatus, NodeFromTemplateJobStatus
from datasources.models import ON_APPLIANCE, StreamCheck
from datasources.results import appliance_wait_s, failure, finish_check
from datasources.streams import validate_stream_url
from devicelink.messages import MAX_SNAPSHOT_BYTES, MAX_TIMEOUT_S, CheckStream, StreamCheckBody
from devices import secrets
from devices.models import Device

logger = logging.getLogger(__name__)
JPEG_START = b"\xff\xd8"


def _unsent(device_pk: int):
    return StreamCheck.objects.filter(
        device_id=device_pk,
        ran_on=ON_APPLIANCE,
        status=NodeFromTemplateJobStatus.PENDING,
        started__isnull=True,
    )


def claim_for_link(device_pk: int, session: str, check_id: int | None = None) -> list[CheckStream]:
    """The ``check_stream`` messages this connection must send: ``check_id``, or (None) every
    check of the device not sent yet. Each check is sent once: claiming sets ``started``.

    Nothing for a connection that has been replaced (its messages would go nowhere; the newer
    connection sends the check after its hello).
    """
    device = Device.objects.filter(pk=device_pk, link_session=session).first()
    if device is None:
        return []
    unsent = _unsent(device_pk)
    if check_id is not None:
        unsent = unsent.filter(pk=check_id)
    messages = []
    for check in unsent.select_related("data_source", "device"):
        claimed = _unsent(device_pk).filter(pk=check.pk).update(started=timezone.now())
        if claimed:
            message = _message(check, device)
            if message is not None:
                messages.append(message)
    return messages


def claim_link_messages(
    device_pk: int, session: str, event: dict[str, Any] | None
) -> list[CheckStream]:
    """devices.hooks.link_claims["check_stream"]: after hello (``event`` None) every check not
    sent yet; on a ``link.check_stream`` message the one it names."""
    return claim_for_link(device_pk, session, None if event is None else int(event["check_id"]))


def _message(check: StreamCheck, device: Device) -> CheckStream | None:
    source = check.data_source
    try:
        validate_stream_url(source.url)
        username, password = source.credentials()
        message = CheckStream(
            check_id=check.pk,
            url=source.url,
            username=username,
            password=password,
            timeout_s=min(settings.STREAM_CHECK_TIMEOUT_S, MAX_TIMEOUT_S),
        )
        if secrets.prepare_check(device, message) == secrets.Delivery.WITHHELD:
            finish_check(
                check,
                **failure(
                    "The camera's credentials were not sent to the appliance.",
                    secrets.withheld_reason(device),
                ),
            )
            return None
    except ValidationError as invalid:
        finish_check(check, **failure(" ".join(invalid.messages), "Edit the stream's URL."))
        return None
    except Exception as exc:  # undecryptable credentials, or ones the protocol cannot carry
        # Only the type: a lower layer's message might carry a secret.
        logger.error("stream check of %s not sent: %s", source.name, type(exc).__name__)
        finish_check(
            check,
            **failure(
                f"The check could not run ({type(exc).__name__}).",
                "See the console's log; if the saved credentials cannot be decrypted, enter "
                "them again.",
            ),
        )
        return None
    logger.info("stream check %s of %s sent to %s", check.pk, source.name, check.place)
    return message


def store_result(device: Device, body: StreamCheckBody) -> None:
    """Store an appliance's ``stream_check`` report; a check that has finished stays as it is."""
    check = StreamCheck.objects.filter(pk=body.check_id, device=device, ran_on=ON_APPLIANCE).first()
    if check is None:
        # Deleted with its camera meanwhile, or not this device's check: nothing to store.
        logger.info("device %s reported unknown stream check %s", device.device_id, body.check_id)
        return
    if not body.ok:
        result = failure(body.error or "The appliance could not run the check.", body.hint)
    else:
        result = {
            "status": NodeFromTemplateJobStatus.SUCCEEDED,
            "codec": body.codec,
            "width": body.width,
            "height": body.height,
            "fps": body.fps,
            "first_frame_ms": body.first_frame_ms,
            "snapshot": _snapshot(body.snapshot_jpeg_b64),
        }
    finish_check(check, **result)


def _snapshot(encoded: str) -> bytes:
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return b""
    # Served as image/jpeg: keep only what is one, and no bigger than the protocol allows.
    return data if data.startswith(JPEG_START) and len(data) <= MAX_SNAPSHOT_BYTES else b""


WAIT_HINT = (
    "Check that the appliance is online and runs agent software that can test streams "
    "(update it otherwise), then test again, or test from the console."
)


def expire_appliance_checks(now: datetime | None = None) -> int:
    """Fail pending appliance checks whose appliance is gone, offline, or past its time."""
    now = now or timezone.now()
    wait_s = appliance_wait_s()
    deadline = now - timedelta(seconds=wait_s)
    expired = 0
    pending = StreamCheck.objects.filter(
        ran_on=ON_APPLIANCE, status=NodeFromTemplateJobStatus.PENDING
    ).select_related("device", "data_source")
    for check in pending.defer("snapshot"):
        device = check.device
        if device is None:
            message = "The appliance was deleted before it answered."
        elif device.connection_status != DeviceConnectionStatus.ONLINE:
            message = f"The appliance {device.name} went offline before it answered."
        elif check.requested < deadline:
            message = f"The appliance {device.name} did not answer within {wait_s} s."
        else:
            continue
        expired += finish_check(check, **failure(message, WAIT_HINT))
    return expired
