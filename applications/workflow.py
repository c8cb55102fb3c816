"""The application instance lifecycle's steps (DESIGN §4), shared by the Celery tasks and the
entry points in deployments.py: each transition recorded (``record``), the claim of a step,
the node instances of a resolved spec, removal, and what a device's reports move on
(``apply_report``, called by the link through devices.hooks).

Every transition is a row in the timeline and a live update. Each step claims the instance with
a conditional update, so two workers never do the same step.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from applications import live
from applications.models import (
    ApplicationInstance,
    InstanceEvent,
    NodeInstance,
)
from core.status import (
    ApplicationInstanceHealthStatus as Health,
)
from core.status import (
    ApplicationInstanceStatus as Status,
)
from core.status import (
    DesiredState,
    DeviceConnectionStatus,
)
from datasources.models import DataSource
from devicelink.apps import ApplicationReport
from devicelink.status import DeviceReportedStatus as Reported
from devicelink.status import NodeInstanceStatus
from devices import desired
from devices.models import Device

logger = logging.getLogger(__name__)

SCHEDULED = "Deployment Workflow has been scheduled."
VALIDATED = "Deployment Workflow has completed data validation."
SUCCEEDED = "Application deployed successfully."
REMOVAL_SCHEDULED = "Removal Workflow has been scheduled."
REMOVED = "Application removed successfully."
_NODE_HEALTH_ERRORS = {NodeInstanceStatus.ERROR}


def waiting_for(device: Device) -> str:
    return f"Waiting for device {device.name} to come online; the deployment continues then."


def record(
    instance: ApplicationInstance,
    status: str,
    description: str,
    health: str | None = None,
    *,
    fields: dict[str, Any] | None = None,
) -> None:
    """Move ``instance`` to ``status`` (if it is not there already), store the event, tell
    everyone watching."""
    health = health or instance.health_status
    changed = (instance.status, instance.status_description, instance.health_status) != (
        status,
        description,
        health,
    )
    instance.status = status
    instance.status_description = description[:255]
    instance.health_status = health
    instance.step_started = timezone.now()
    for name, value in (fields or {}).items():
        setattr(instance, name, value)
    instance.save()
    if changed:
        InstanceEvent.objects.create(
            instance=instance, status=status, health_status=health, description=description[:255]
        )
        live.instance_updated(instance)


def claim(pk: int, expected: str, new_status: str) -> ApplicationInstance | None:
    """Move the instance from ``expected`` to ``new_status`` if nobody else did; else None."""
    claimed = ApplicationInstance.objects.filter(pk=pk, status=expected).update(
        status=new_status, step_started=timezone.now()
    )
    if not claimed:
        return None
    instance = ApplicationInstance.objects.select_related("device").get(pk=pk)
    instance.status = expected  # so record() sees the change and writes the event
    return instance


def store_nodes(instance: ApplicationInstance, spec: dict[str, Any], sources: dict[str, int]):
    """The node instances of a resolved spec; camera nodes take a copy of their stream."""
    streams = DataSource.objects.in_bulk(list(sources.values()))
    NodeInstance.objects.filter(instance=instance).delete()
    nodes = []
    for node in spec["nodes"]:
        if node["kind"] == "parameter":
            continue
        record = NodeInstance(
            instance=instance,
            node_instance_id=node["name"],
            kind=node["kind"],
            node_id=node.get("node_id", ""),
            package_name=node.get("package", ""),
            package_version=node.get("package_version", ""),
            patch_version=node.get("patch_version", ""),
            node_name=node.get("interface", ""),
            launch=node.get("launch", "onAppStart"),
            data_source_id=sources.get(node["name"]),
        )
        source = streams.get(sources.get(node["name"]))
        if source is not None:
            # The ciphertext is copied as it is: the same key decrypts it.
            record.stream_url = source.url
            record.stream_username_encrypted = source.username_encrypted
            record.stream_password_encrypted = source.password_encrypted
        nodes.append(record)
    NodeInstance.objects.bulk_create(nodes)


def purge_streams(instance: ApplicationInstance) -> None:
    """The instance no longer runs anywhere: its copies of camera credentials go."""
    NodeInstance.objects.filter(instance=instance).update(
        stream_url="", stream_username_encrypted="", stream_password_encrypted=""
    )


def device_is_online(device: Device) -> bool:
    return device.connection_status == DeviceConnectionStatus.ONLINE


def remove(instance: ApplicationInstance) -> None:
    """Remove from the device: it stops and deletes the instance, then says so."""
    with transaction.atomic():
        # Under the row's lock: a device's report may be changing it right now.
        ApplicationInstance.objects.select_for_update().filter(pk=instance.pk).first()
        instance.refresh_from_db()
        if instance.status == Status.REMOVAL_SUCCEEDED or instance.removal_requested:
            return
        if _gone_from_device(instance):
            # Nothing will come from the device any more: it never had the instance, or it
            # already stopped the failed one it was no longer asked to run. The timeline shows
            # the request and its end, as for any removal, and why it ended at once.
            reason = _removed_at_once(instance)
            record(
                instance,
                Status.REMOVAL_REQUESTED,
                REMOVAL_SCHEDULED,
                fields={"desired_state": DesiredState.REMOVED},
            )
            record(instance, Status.REMOVAL_SUCCEEDED, reason, Health.NOT_AVAILABLE)
            purge_streams(instance)
            return
        record(
            instance,
            Status.REMOVAL_REQUESTED,
            REMOVAL_SCHEDULED
            if device_is_online(instance.device)
            else waiting_for(instance.device),
            fields={"desired_state": DesiredState.REMOVED},
        )
        desired.publish(instance.device)


NEVER_DELIVERED = (
    "Removed at once: the application never reached device {device} (its deployment was still "
    "pending), so there was nothing to stop there."
)
NOT_ON_DEVICE = (
    "Removed at once: device {device} never reported running this failed deployment, and it is "
    "no longer asked to, so there was nothing to stop there."
)
ALREADY_STOPPED = (
    "Removed at once: device {device} had already stopped the failed application, so there was "
    "nothing left to stop there."
)


def _removed_at_once(instance: ApplicationInstance) -> str:
    """The timeline's reason why a removal needed nothing from the device."""
    if instance.status == Status.DEPLOYMENT_PENDING:
        text = NEVER_DELIVERED
    else:
        text = ALREADY_STOPPED if instance.reported_status else NOT_ON_DEVICE
    return text.format(device=instance.device.name)


def _gone_from_device(instance: ApplicationInstance) -> bool:
    """The instance is not in its device's desired state (desired.py leaves pending and failed
    ones out) and the device's last word about it, if any, was that it stopped."""
    not_desired = instance.status in (Status.DEPLOYMENT_PENDING, Status.DEPLOYMENT_FAILED)
    return not_desired and instance.reported_status in ("", Reported.STOPPED)


def apply_report(device: Device, report: ApplicationReport) -> None:
    """A device told the state of one of its instances (called inside the link's transaction)."""
    instance = (
        ApplicationInstance.objects.select_for_update()
        .filter(device=device, application_instance_id=report.application_instance_id)
        .first()
    )
    if instance is None:
        logger.info("device %s reported unknown instance %s", device.device_id,
                    report.application_instance_id)  # fmt: skip
        return
    now = timezone.now()
    for node_report in report.nodes:
        NodeInstance.objects.filter(instance=instance, node_instance_id=node_report.name).update(
            current_status=node_report.status, message=node_report.message[:2000]
        )
    instance.reported_status = report.status
    instance.reported_generation = report.generation
    instance.reported_at = now
    unhealthy = [n for n in report.nodes if n.status in _NODE_HEALTH_ERRORS]
    health = Health.ERROR if unhealthy else Health.RUNNING
    removing = instance.removal_requested
    status = report.status
    if removing:
        if status == Reported.STOPPED:
            record(instance, Status.REMOVAL_SUCCEEDED, REMOVED, Health.NOT_AVAILABLE)
            purge_streams(instance)
        elif status == Reported.REMOVAL_FAILED:
            record(instance, Status.REMOVAL_FAILED, f"Removal failed: {report.message}")
        else:
            record(instance, Status.REMOVAL_IN_PROGRESS, "The device is removing the application.")
    elif report.generation < instance.generation:
        instance.save()  # an older generation's news: noted, not acted on
    elif status in (Reported.INSTALL_IN_PROGRESS, Reported.STARTING, Reported.LAUNCHED):
        if instance.status in (Status.DEPLOYMENT_REQUESTED, Status.DEPLOYMENT_IN_PROGRESS):
            installing = status == Reported.INSTALL_IN_PROGRESS
            text = f"The device is {'installing' if installing else 'starting'} the application."
            record(instance, Status.DEPLOYMENT_IN_PROGRESS, text)
        else:
            instance.save()
    elif status == Reported.RUNNING:
        if instance.status in (Status.DEPLOYMENT_REQUESTED, Status.DEPLOYMENT_IN_PROGRESS):
            record(instance, Status.DEPLOYMENT_SUCCEEDED, SUCCEEDED, health)
        else:
            description = instance.status_description
            if unhealthy:
                description = "; ".join(f"{n.name}: {n.message}" for n in unhealthy)[:255]
            elif instance.health_status in (Health.ERROR, Health.NOT_AVAILABLE):
                description = SUCCEEDED  # healthy again, or known again after a time offline
            record(instance, instance.status, description, health)
    elif status in (Reported.INSTALL_ERROR, Reported.LAUNCH_ERROR):
        reason = report.message or "; ".join(f"{n.name}: {n.message}" for n in unhealthy)
        step = "install" if status == Reported.INSTALL_ERROR else "start"
        record(
            instance,
            Status.DEPLOYMENT_FAILED,
            f"The device could not {step} the application: {reason}",
            Health.ERROR,
        )
        purge_streams(instance)
    else:
        instance.save()
    live.nodes_updated(instance)


def devices_went_offline(devices: list[Device]) -> None:
    """devices.hooks.on_offline: what runs on an appliance nobody hears from is not known to be
    healthy. Its deployed instances say so until the appliance reports them again (the agent
    reports every instance after each reconnection)."""
    by_pk = {device.pk: device for device in devices}
    instances = ApplicationInstance.objects.filter(
        device_id__in=list(by_pk),
        status=Status.DEPLOYMENT_SUCCEEDED,
        health_status__in=[Health.RUNNING, Health.ERROR],
    )
    for instance in instances:
        name = by_pk[instance.device_id].name
        record(
            instance,
            instance.status,
            f"Device {name} is offline: the application's health is unknown until it is back.",
            Health.NOT_AVAILABLE,
        )


def retire_replaced(instance: ApplicationInstance) -> None:
    """The instance ``instance`` replaces leaves its device (with the replacement's arrival)."""
    old = instance.replaces
    if old is not None and not old.removal_requested:
        remove(old)
