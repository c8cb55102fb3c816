"""Starting stream checks, on the console host or on an appliance, and reading the latest one."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Prefetch, QuerySet

from core import groups
from core.live import send_to_link
from core.status import DeviceConnectionStatus, DeviceStatus, NodeFromTemplateJobStatus
from datasources.live import broadcast_check
from datasources.models import ON_APPLIANCE, ON_CONSOLE, DataSource, StreamCheck
from datasources.results import finish_check
from datasources.tasks import run_stream_check
from devices.models import Device

logger = logging.getLogger(__name__)
KEEP_CHECKS = 20


class CheckRefused(Exception):
    """A check that cannot start; the message says why, in words for the operator."""


def online_appliances() -> QuerySet[Device]:
    """The appliances a check can run on: provisioned and connected."""
    return Device.objects.filter(
        provisioning_status=DeviceStatus.SUCCEEDED,
        connection_status=DeviceConnectionStatus.ONLINE,
    ).order_by("name")


def check_place(device_id: str | None) -> Device | None:
    """The appliance named by ``device_id`` (None: the console host); CheckRefused if unusable."""
    if not device_id:
        return None
    device = Device.objects.filter(device_id=device_id).first()
    if device is None:
        raise CheckRefused(f"There is no appliance with the ID {device_id[:40]}.")
    if not online_appliances().filter(pk=device.pk).exists():
        state = (
            device.get_connection_status_display()
            if device.provisioning_status == DeviceStatus.SUCCEEDED
            else "not set up"
        )
        raise CheckRefused(
            f"The appliance {device.name} is not online ({state.lower()}); test from an online "
            "appliance or from this console."
        )
    return device


def start_check(source: DataSource, user, device: Device | None = None) -> StreamCheck:
    """Record a pending check and hand it to the worker, or to ``device``, once committed.

    A check still pending from the same place is returned instead of starting another:
    repeated clicks must not fill the worker or the appliance with probes of the same camera.
    One pending elsewhere refuses the new one (CheckRefused): the row shows one test at a time.
    """
    pending = source.checks.filter(status=NodeFromTemplateJobStatus.PENDING).first()
    if pending is not None:
        if pending.device_id == (device.pk if device else None):
            return pending
        raise CheckRefused(
            f"A test of {source.name} from {pending.place} is still running; test again when "
            "its result is in."
        )
    check = StreamCheck.objects.create(
        data_source=source,
        requested_by=user,
        ran_on=ON_APPLIANCE if device else ON_CONSOLE,
        device=device,
    )
    old = source.checks.order_by("-requested").values_list("pk", flat=True)[KEEP_CHECKS:]
    StreamCheck.objects.filter(pk__in=list(old)).delete()
    # Announce "pending" before the worker can announce a result: on_commit runs in order.
    broadcast_check(source, check)
    if device is not None:
        # Only the check's id travels through the channel layer; the device's link consumer
        # reads the credentials itself and sends them over the appliance's own connection.
        send_to_link(
            groups.link(device.device_id), {"type": "link.check_stream", "check_id": check.pk}
        )
        return check
    transaction.on_commit(lambda: _enqueue(check))
    return check


def _enqueue(check: StreamCheck) -> None:
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


def with_latest_check(sources: QuerySet[DataSource]) -> QuerySet[DataSource]:
    latest = StreamCheck.objects.order_by("-requested").select_related("device").defer("snapshot")
    return sources.prefetch_related(Prefetch("checks", queryset=latest, to_attr="latest_checks"))
