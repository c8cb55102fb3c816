"""What the console does with what an appliance says on its link (docs/protocol.md).

Plain synchronous functions over the ORM; the WebSocket consumer (devices/link.py) calls them
in a thread. Each takes the connection's ``session`` so that a connection that has been
replaced by a newer one can no longer change the device.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.status import DeviceConnectionStatus, DeviceStatus, UpdateProgress
from core.transactions import commit_asynchronously
from devicelink.messages import (
    AppliedBody,
    Heartbeat,
    HeartbeatAck,
    Hello,
    JobBody,
    LogsBody,
    ProtocolError,
    Report,
    SoftwareBody,
    Welcome,
    report_body,
)
from devicelink.network import NetworkStatus
from devices import hooks, live, secrets
from devices.models import (
    TERMINAL_JOB_STATUSES,
    Device,
    DeviceJob,
    DeviceJobEvent,
    DeviceLog,
    LinkTransport,
)
from devices.software import refresh_update_needed

logger = logging.getLogger(__name__)


class LinkGone(Exception):
    """The device was deleted, or this connection was replaced: the link must close."""

    def __init__(self, reason: str, revoked: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.revoked = revoked


@dataclass
class HeartbeatResult:
    ack: HeartbeatAck
    desired_version: int


def _lease_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.DEVICE_LEASE_S)


def _device(pk: int, session: str) -> Device:
    device = Device.objects.filter(pk=pk).first()
    if device is None:
        raise LinkGone("This device was deleted from the console.", revoked=True)
    if device.link_session != session:
        raise LinkGone("A newer connection of this device replaced this one.", revoked=False)
    return device


def on_hello(
    pk: int,
    session: str,
    hello: Hello,
    transport: LinkTransport = LinkTransport.LOOPBACK,
    address: str = "",
) -> tuple[Welcome, int]:
    """The link is up: the device is ONLINE. Returns the welcome and the desired version.

    ``transport`` and ``address``: how and from where the connection came (devices/secrets.py
    decides from them how the device's secrets travel)."""
    now = timezone.now()
    with transaction.atomic():
        commit_asynchronously()
        device = Device.objects.select_for_update().filter(pk=pk).first()
        if device is None:
            raise LinkGone("This device was deleted from the console.", revoked=True)
        was = (device.provisioning_status, device.connection_status)
        counted_as = device.aggregated_status
        changes = {
            "link_session": session,
            "connection_status": DeviceConnectionStatus.ONLINE,
            "lease_expires_at": _lease_end(now),
            "last_heartbeat_at": now,
            "accelerators": [str(kind)[:20] for kind in hello.accelerators],
            "current_software": hello.software_version[:20],
            "applied_version": min(hello.applied_version, device.desired_version),
            "seal_key": secrets.vouched_seal_key(device, hello),
            "link_transport": transport,
            "link_address": address[:64],
            "updated": now,
        }
        if device.provisioning_status == DeviceStatus.PENDING:
            changes["provisioning_status"] = DeviceStatus.SUCCEEDED
        if hello.serial_number:
            changes["serial_number"] = hello.serial_number[:20]
        software_changed = device.current_software != changes["current_software"]
        # None before its first hello here: nothing was sent to it yet that could be stale.
        delivered_before = (
            (secrets.delivery(device), device.seal_key) if device.link_transport else None
        )
        # An UPDATE, not save(): every (re)connection of every device passes here, and save()
        # would cost an audit row, the audit log's own read of the old row and a dashboard
        # recount each time (see LINK_FIELDS).
        Device.objects.filter(pk=pk).update(**changes)
        for field, value in changes.items():
            setattr(device, field, value)
        if delivered_before and delivered_before != (secrets.delivery(device), device.seal_key):
            # The secrets it was sent are sealed to another key, or travel another way now:
            # the same desired state goes again, made for this connection.
            device.desired_version += 1
            Device.objects.filter(pk=pk).update(desired_version=device.desired_version)
        if software_changed:
            refresh_update_needed(Device.objects.filter(pk=pk))
    if was != (device.provisioning_status, device.connection_status):
        logger.info("device %s is online", device.device_id)
        live.device_updated(device, ["status", "details"] + (["software"] * software_changed))
    if counted_as != device.aggregated_status:
        live.fleet_counts_changed()
    welcome = Welcome(
        device_id=device.device_id,
        device_name=device.name,
        last_seq=device.last_report_seq,
        heartbeat_s=settings.DEVICE_HEARTBEAT_S,
        lease_s=settings.DEVICE_LEASE_S,
        server_time=now.timestamp(),
    )
    return welcome, device.desired_version


def on_heartbeat(pk: int, session: str, heartbeat: Heartbeat) -> HeartbeatResult:
    now = timezone.now()
    lease_end = _lease_end(now)
    health = heartbeat.health.model_dump()
    device = _renew_lease(pk, session, now, lease_end, health)
    if device is None:
        # Not ONLINE under this session: deleted, replaced, or back after its lease ran out.
        device = _device(pk, session)
        Device.objects.filter(pk=pk, link_session=session).update(
            connection_status=DeviceConnectionStatus.ONLINE,
            lease_expires_at=lease_end,
            last_heartbeat_at=now,
            health=health,
        )
        device.connection_status = DeviceConnectionStatus.ONLINE
        device.lease_expires_at = lease_end
        device.last_heartbeat_at = now
        device.health = health
        live.device_updated(device, ["status", "health"])
        live.fleet_counts_changed()
    else:
        live.heartbeat_received(device)
    _heartbeat_hooks(device, heartbeat)
    return HeartbeatResult(
        HeartbeatAck(id=heartbeat.id, lease_expires=lease_end.timestamp()),
        device.desired_version,
    )


# The columns of the heartbeat's fast path, in RETURNING order after the pk.
_RENEW_RETURNS = ("device_id", "name", "desired_version")


def _renew_lease(
    pk: int, session: str, now: datetime, lease_end: datetime, health: dict
) -> Device | None:
    """Renew the lease of a device ONLINE under ``session``, in one statement; None otherwise.

    This is every heartbeat of every device, so it is one ``UPDATE … RETURNING`` in SQL
    rather than the ORM's SELECT then UPDATE: at a thousand devices, building those two
    queries was most of the console's CPU per heartbeat. The device it returns holds what
    the heartbeat changed and its identity; other fields load on access.
    """
    meta = Device._meta
    quote = connection.ops.quote_name
    field = meta.get_field
    # Only identifiers from the model go into the text (quoted); every value is a parameter.
    table, lease, seen, health_col, pk_col, session_col, status_col = (
        quote(name)
        for name in (
            meta.db_table,
            "lease_expires_at",
            "last_heartbeat_at",
            "health",
            "id",
            "link_session",
            "connection_status",
        )
    )
    returning = ", ".join(quote(name) for name in _RENEW_RETURNS)
    # On PostgreSQL the statement commits asynchronously (set for its own transaction only):
    # waiting for the WAL to reach the disk cost 5 ms per heartbeat on an idle disk and tens of
    # ms on a busy one. A crash of the database may then lose the last fraction of a second of
    # lease renewals, never a report, and never makes the data inconsistent.
    asynchronous = (
        "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous_commit"
        if connection.vendor == "postgresql"
        else ""
    )
    sql = " ".join(
        [
            "UPDATE", table, "SET", lease, "= %s,", seen, "= %s,", health_col, "= %s",
            asynchronous,
            "WHERE", pk_col, "= %s AND", session_col, "= %s AND", status_col, "= %s",
            "RETURNING", returning,
        ]
    )  # fmt: skip
    params = [
        field("lease_expires_at").get_db_prep_save(lease_end, connection),
        field("last_heartbeat_at").get_db_prep_save(now, connection),
        field("health").get_db_prep_save(health, connection),
        pk,
        session,
        DeviceConnectionStatus.ONLINE,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    known = {
        "id": pk,
        "connection_status": DeviceConnectionStatus.ONLINE,
        "link_session": session,
        "lease_expires_at": lease_end,
        "last_heartbeat_at": now,
        "health": health,
        **dict(zip(_RENEW_RETURNS, row, strict=True)),
    }
    # from_db wants the loaded fields in the model's order; the others stay deferred.
    names = [f.attname for f in meta.concrete_fields if f.attname in known]
    return Device.from_db(connection.alias, names, [known[name] for name in names])


def _heartbeat_hooks(device: Device, heartbeat: Heartbeat) -> None:
    """What other apps take from a heartbeat (applications: its metrics; hooks.py)."""
    for hook in hooks.heartbeat_hooks:
        try:
            hook(device, heartbeat)
        except Exception:  # best effort: the lease was renewed, the ack must go out
            logger.exception("handling the heartbeat of %s failed (%r)", device.device_id, hook)


def desired_version(pk: int, session: str) -> int:
    return _device(pk, session).desired_version


def on_report(pk: int, session: str, report: Report) -> None:
    """Store one report exactly once, in order; ProtocolError for a gap or a bad body."""
    body = report_body(report)
    sections: set[str] = set()
    job: DeviceJob | None = None
    with transaction.atomic():
        device = Device.objects.select_for_update().filter(pk=pk).first()
        if device is None:
            raise LinkGone("This device was deleted from the console.", revoked=True)
        if device.link_session != session:
            raise LinkGone("A newer connection of this device replaced this one.", revoked=False)
        if report.seq <= device.last_report_seq:
            return  # delivered before the agent saw our ack: acknowledge again, store nothing
        if report.seq != device.last_report_seq + 1:
            raise ProtocolError(
                f"report {report.seq} arrived after {device.last_report_seq}; reports must be "
                "sent in order without gaps"
            )
        reported_at = datetime.fromtimestamp(report.time, tz=UTC)
        if isinstance(body, NetworkStatus):
            device.network_status = body.model_dump()
            device.network_updated = reported_at
            sections.add("network")
        elif isinstance(body, SoftwareBody):
            if device.current_software != body.version:
                device.current_software = body.version[:20]
                sections.update({"software", "status"})
        elif isinstance(body, JobBody):
            job = _record_job(device, body, reported_at)
            sections.add("status")
        elif isinstance(body, LogsBody):
            entries = DeviceLog.objects.bulk_create(
                DeviceLog(
                    device=device,
                    time=datetime.fromtimestamp(entry.time, tz=UTC),
                    stream=entry.stream,
                    level=entry.level,
                    message=entry.message,
                    application_instance_id=entry.application_instance_id,
                    node=entry.node,
                )
                for entry in body.entries
            )
            live.logs_added(device, entries)
        elif isinstance(body, AppliedBody):
            device.applied_version = min(body.version, device.desired_version)
        elif (handler := hooks.report_handlers.get(type(body))) is not None:
            # Application reports (applications), stream check results (datasources).
            handler(device, body)
        device.last_report_seq = report.seq
        device.updated = timezone.now()
        # Only what a report changes: handling it may have bumped the desired version (an
        # application replaced, a removal) in the database, which a full save would undo. An
        # UPDATE, as for every write of the link (see LINK_FIELDS): no audit row and no
        # dashboard recount per report.
        Device.objects.filter(pk=pk).update(
            **{
                field: getattr(device, field)
                for field in (
                    "network_status",
                    "network_updated",
                    "current_software",
                    "activity",
                    "applied_version",
                    "last_report_seq",
                    "updated",
                )
            }
        )
        if "software" in sections:
            refresh_update_needed(Device.objects.filter(pk=pk))
    if job is not None:
        live.job_updated(job)
    if sections:
        live.device_updated(device, sections)
    if "status" in sections:
        live.fleet_counts_changed()


def _record_job(device: Device, body: JobBody, reported_at: datetime) -> DeviceJob | None:
    job = DeviceJob.objects.filter(job_id=body.job_id, device=device).first()
    if job is None:
        logger.warning("device %s reported unknown job %s", device.device_id, body.job_id)
        return None
    if job.status in TERMINAL_JOB_STATUSES:
        return None  # a finished job does not change any more
    if job.status == body.status and job.reason == body.reason:
        return None
    job.status = body.status
    job.reason = body.reason[:1000]
    job.save(update_fields=["status", "reason", "updated"])
    DeviceJobEvent.objects.create(job=job, status=body.status, reason=job.reason, time=reported_at)
    if body.status == UpdateProgress.REBOOTING:
        device.activity = "REBOOTING"
    elif body.status in TERMINAL_JOB_STATUSES:
        device.activity = ""
    return job


def on_disconnect(pk: int, session: str) -> None:
    """The connection closed. The device stays as it is until its lease runs out."""
    Device.objects.filter(pk=pk, link_session=session).update(link_session="")


def expire_leases() -> list[str]:
    """Mark OFFLINE every ONLINE device whose lease has run out; returns their ids.

    Then end what waited on an appliance: stream checks whose appliance went offline, was
    deleted, or did not answer in time fail.
    """
    now = timezone.now()
    expired = []
    went_offline = []
    for device in Device.objects.filter(
        connection_status=DeviceConnectionStatus.ONLINE, lease_expires_at__lt=now
    ):
        changed = Device.objects.filter(
            pk=device.pk,
            connection_status=DeviceConnectionStatus.ONLINE,
            lease_expires_at__lt=now,
        ).update(connection_status=DeviceConnectionStatus.OFFLINE)
        if changed:
            device.connection_status = DeviceConnectionStatus.OFFLINE
            expired.append(device.device_id)
            went_offline.append(device)
            logger.info("device %s is offline: its lease expired", device.device_id)
            live.device_updated(device, ["status"])
    if expired:
        live.fleet_counts_changed()
        for offline_hook in hooks.offline_hooks:  # applications: health unknown from now on
            offline_hook(went_offline)
    for hook in hooks.sweep_hooks:  # datasources: appliance checks that will not be answered
        hook(now)
    return expired
