"""The application instance lifecycle (DESIGN §4): deploy, follow the device, remove, signal.

``request_deployment`` validates and records a new instance (DEPLOYMENT_PENDING, "Deployment
Workflow has been scheduled.") and queues ``tasks.deploy_instance``, which resolves it into the
spec the device runs and publishes the device's desired state (DEPLOYMENT_REQUESTED). What the
device then reports (``apply_report``, called by the link) moves it on: DEPLOYMENT_IN_PROGRESS,
then DEPLOYMENT_SUCCEEDED with health RUNNING, or DEPLOYMENT_FAILED naming the node and the
reason the device gave. Every transition is a row in the timeline and a live update. Each step
claims the instance with a conditional update, so two workers never do the same step.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from applications.models import (
    CPU_LIMIT,
    MEMORY_LIMIT_MIB,
    ApplicationInstance,
    InstanceEvent,
    NodeInstance,
    RuntimeRole,
)
from applications.resolve import DeployRefused, PayloadError, check_payloads, resolve
from core import groups
from core.live import request_resync
from core.status import (
    ApplicationInstanceHealthStatus as Health,
)
from core.status import (
    ApplicationInstanceStatus as Status,
)
from core.status import (
    DesiredState,
    DeviceConnectionStatus,
    DeviceStatus,
)
from devicelink.apps import ApplicationReport
from devices.models import Device

logger = logging.getLogger(__name__)

SCHEDULED = "Deployment Workflow has been scheduled."
VALIDATED = "Deployment Workflow has completed data validation."
SUCCEEDED = "Application deployed successfully."
REMOVAL_SCHEDULED = "Removal Workflow has been scheduled."
REMOVED = "Application removed successfully."


class QuotaExceeded(Exception):
    def __init__(self, message: str, quota: str) -> None:
        super().__init__(message)
        self.message = message
        self.quota = quota


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
    from applications import live

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


def _check_quotas(device: Device, replaces: ApplicationInstance | None) -> None:
    active = device.application_instances.active()
    if replaces is not None:
        active = active.exclude(pk=replaces.pk)  # it goes when its replacement runs
    if active.count() >= settings.APPLICATIONS_PER_DEVICE:
        raise QuotaExceeded(
            f"Device {device.name} runs {active.count()} applications, the most allowed "
            f"(APPLICATIONS_PER_DEVICE={settings.APPLICATIONS_PER_DEVICE}). Remove one first.",
            "APPLICATIONS_PER_DEVICE",
        )
    since = timezone.now() - timedelta(days=1)
    today = device.application_instances.filter(created__gte=since).count()
    if today >= settings.DEPLOYMENTS_PER_DEVICE_PER_DAY:
        raise QuotaExceeded(
            f"Device {device.name} had {today} deployments in the last 24 hours, the most "
            f"allowed (DEPLOYMENTS_PER_DEVICE_PER_DAY={settings.DEPLOYMENTS_PER_DEVICE_PER_DAY}).",
            "DEPLOYMENTS_PER_DEVICE_PER_DAY",
        )


def request_deployment(
    *,
    name: str,
    device: Device,
    manifest_text: str,
    overrides_text: str = "",
    description: str = "",
    runtime_role: RuntimeRole | None = None,
    replaces: ApplicationInstance | None = None,
    tags: dict[str, str] | None = None,
    user=None,
    memory_limit_mib: int | None = None,
    cpu_limit: float | None = None,
) -> ApplicationInstance:
    """Validate and record a deployment; DeployRefused lists every problem, QuotaExceeded says
    which quota. The work itself continues in a Celery task."""
    from applications import tasks

    errors: list[PayloadError] = []
    if device.provisioning_status != DeviceStatus.SUCCEEDED:
        errors.append(
            PayloadError(
                "device",
                "",
                f"Device {device.name} is not set up yet (provisioning "
                f"status {device.provisioning_status}).",
            )
        )
    if replaces is not None and (
        replaces.device_id != device.pk or not ApplicationInstance.objects.active()
        .filter(pk=replaces.pk).exists()
    ):  # fmt: skip
        errors.append(
            PayloadError(
                "replaces",
                "",
                f"{replaces.name} cannot be replaced here: only an application that still runs "
                f"on device {device.name} can be.",
            )
        )
    errors += limit_errors(memory_limit_mib, cpu_limit)
    errors += check_payloads(manifest_text, overrides_text)
    if errors:
        raise DeployRefused(errors)
    spec = resolve(manifest_text, overrides_text, name, "pending").spec
    cameras = [node for node in spec.nodes if node.kind == "camera"]
    if len(cameras) > settings.STREAMS_PER_APPLICATION:
        raise QuotaExceeded(
            f"The application uses {len(cameras)} camera streams; at most "
            f"{settings.STREAMS_PER_APPLICATION} are allowed per application "
            "(STREAMS_PER_APPLICATION).",
            "STREAMS_PER_APPLICATION",
        )
    conflicts = _port_conflicts(device, spec, overrides_text, replaces)
    conflicts += _hardware_missing(device, spec)
    if conflicts:
        raise DeployRefused(conflicts)
    with transaction.atomic():
        locked = Device.objects.select_for_update().get(pk=device.pk)
        _check_quotas(locked, replaces)
        instance = ApplicationInstance.objects.create(
            name=name,
            description=description,
            device=locked,
            manifest_payload=manifest_text,
            overrides_payload=overrides_text,
            runtime_role=runtime_role,
            replaces=replaces,
            tags=tags or {},
            created_by=user,
            memory_limit_mib=memory_limit_mib,
            cpu_limit=cpu_limit,
        )
        record(instance, Status.DEPLOYMENT_PENDING, SCHEDULED, Health.NOT_AVAILABLE)
        # Open application lists and the device's page have no row for it yet.
        request_resync([groups.FLEET, groups.device(locked.device_id)])
        transaction.on_commit(lambda: tasks.deploy_instance.delay(instance.pk))
    return instance


def _port_conflicts(
    device: Device, spec: Any, overrides_text: str, replaces: ApplicationInstance | None
) -> list[PayloadError]:
    """Host ports another application on the device holds already."""
    from applications.wizard import used_host_ports

    used = used_host_ports(device, exclude=replaces)
    try:
        in_override = bool(json.loads(overrides_text or "{}").get("nodeGraphOverrides", {})
                           .get("networkRoutingRules"))  # fmt: skip
    except (ValueError, AttributeError):
        in_override = False
    base = "/nodeGraphOverrides" if in_override else "/nodeGraph"
    return [
        PayloadError(
            "overrides" if in_override else "manifest",
            f"{base}/networkRoutingRules/{index}/hostPort",
            f"Host port {rule.host_port} is already used by application {used[rule.host_port]} "
            f"on device {device.name}.",
            "Choose another host port between 8000 and 9000.",
        )
        for index, rule in enumerate(spec.network_routing_rules)
        if rule.host_port in used
    ]


def limit_errors(memory_limit_mib: int | None, cpu_limit: float | None) -> list[PayloadError]:
    """Resource limits outside what an appliance can apply (None: the installation's default)."""
    checks = (
        ("memory_limit_mib", "memory", memory_limit_mib, MEMORY_LIMIT_MIB, "MiB"),
        ("cpu_limit", "CPU", cpu_limit, CPU_LIMIT, "CPUs"),
    )
    return [
        PayloadError(
            field,
            "",
            f"The {what} limit must be {_number(low)} to {_number(high)} {unit}; "
            f"{_number(value)} was given.",
            "Leave it empty for the installation's default.",
        )
        for field, what, value, (low, high), unit in checks
        if value is not None and not low <= value <= high
    ]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _hardware_missing(device: Device, spec: Any) -> list[PayloadError]:
    """Nodes whose package asks for GPU access, on a device that reported no GPU."""
    if device.accelerators:
        return []
    return [
        PayloadError(
            "device",
            "",
            f"Node {node.name} (package {node.package} {node.package_version}) asks for GPU "
            f"access (hardware_access in its package.json requirements), and device "
            f"{device.name} reports no GPU.",
            "Deploy it to an appliance with an NVIDIA GPU or a Jetson module, or register the "
            "package without that requirement.",
        )
        for node in spec.nodes
        if any(asset.needs_gpu for asset in node.assets)
    ]


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
    from datasources.models import DataSource

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
    from devices import desired

    with transaction.atomic():
        # Under the row's lock: a device's report may be changing it right now.
        ApplicationInstance.objects.select_for_update().filter(pk=instance.pk).first()
        instance.refresh_from_db()
        if instance.status == Status.REMOVAL_SUCCEEDED or instance.desired_state == "REMOVED":
            return
        if _gone_from_device(instance):
            # Nothing will come from the device any more: it never had the instance, or it
            # already stopped the failed one it was no longer asked to run. The timeline shows
            # the request and its end, as for any removal.
            record(
                instance,
                Status.REMOVAL_REQUESTED,
                REMOVAL_SCHEDULED,
                fields={"desired_state": DesiredState.REMOVED},
            )
            record(instance, Status.REMOVAL_SUCCEEDED, REMOVED, Health.NOT_AVAILABLE)
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


def _gone_from_device(instance: ApplicationInstance) -> bool:
    """The instance is not in its device's desired state (desired.py leaves pending and failed
    ones out) and the device's last word about it, if any, was that it stopped."""
    not_desired = instance.status in (Status.DEPLOYMENT_PENDING, Status.DEPLOYMENT_FAILED)
    return not_desired and instance.reported_status in ("", "STOPPED")


def signal_nodes(instance: ApplicationInstance, signals: list[tuple[str, str]]) -> None:
    """PAUSE or RESUME camera node instances; the device acts on the next desired state."""
    from devices import desired

    if instance.desired_state == DesiredState.REMOVED or instance.status in (
        Status.REMOVAL_SUCCEEDED,
        Status.DEPLOYMENT_FAILED,
        Status.DEPLOYMENT_ERROR,
    ):
        raise ValueError(
            f"{instance.name} is {instance.status} and no longer runs; it takes no signals."
        )
    nodes = {node.node_instance_id: node for node in instance.node_instances.all()}
    unknown = [name for name, _ in signals if name not in nodes]
    if unknown:
        raise ValueError(f"No node instance {', '.join(unknown)} in {instance.name}.")
    not_cameras = [name for name, _ in signals if nodes[name].kind != "camera"]
    if not_cameras:
        raise ValueError(
            f"Only camera nodes can be paused and resumed; {', '.join(not_cameras)} "
            f"{'is' if len(not_cameras) == 1 else 'are'} not."
        )
    with transaction.atomic():
        for name, signal in signals:
            node = nodes[name]
            node.signal = signal
            node.save(update_fields=["signal"])
        ApplicationInstance.objects.filter(pk=instance.pk).update(
            generation=instance.generation + 1
        )
        desired.publish(instance.device)


# --- what the device reports --------------------------------------------------------------------
_NODE_HEALTH_ERRORS = {"ERROR"}


def apply_report(device: Device, report: ApplicationReport) -> None:
    """A device told the state of one of its instances (called inside the link's transaction)."""
    from applications import live

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
    removing = instance.desired_state == DesiredState.REMOVED
    status = report.status
    if removing:
        if status == "STOPPED":
            record(instance, Status.REMOVAL_SUCCEEDED, REMOVED, Health.NOT_AVAILABLE)
            purge_streams(instance)
        elif status == "REMOVAL_FAILED":
            record(instance, Status.REMOVAL_FAILED, f"Removal failed: {report.message}")
        else:
            record(instance, Status.REMOVAL_IN_PROGRESS, "The device is removing the application.")
    elif report.generation < instance.generation:
        instance.save()  # an older generation's news: noted, not acted on
    elif status in ("INSTALL_IN_PROGRESS", "STARTING", "LAUNCHED"):
        if instance.status in (Status.DEPLOYMENT_REQUESTED, Status.DEPLOYMENT_IN_PROGRESS):
            text = "The device is installing the application." if status == "INSTALL_IN_PROGRESS" \
                else "The device is starting the application."  # fmt: skip
            record(instance, Status.DEPLOYMENT_IN_PROGRESS, text)
        else:
            instance.save()
    elif status == "RUNNING":
        if instance.status in (Status.DEPLOYMENT_REQUESTED, Status.DEPLOYMENT_IN_PROGRESS):
            record(instance, Status.DEPLOYMENT_SUCCEEDED, SUCCEEDED, health)
        else:
            description = instance.status_description
            if unhealthy:
                description = "; ".join(f"{n.name}: {n.message}" for n in unhealthy)[:255]
            elif instance.health_status == Health.ERROR:
                description = SUCCEEDED
            record(instance, instance.status, description, health)
    elif status in ("INSTALL_ERROR", "LAUNCH_ERROR"):
        reason = report.message or "; ".join(f"{n.name}: {n.message}" for n in unhealthy)
        record(
            instance,
            Status.DEPLOYMENT_FAILED,
            f"The device could not {'install' if status == 'INSTALL_ERROR' else 'start'} the "
            f"application: {reason}",
            Health.ERROR,
        )
        purge_streams(instance)
    else:
        instance.save()
    live.nodes_updated(instance)


def retire_replaced(instance: ApplicationInstance) -> None:
    """The instance ``instance`` replaces leaves its device (with the replacement's arrival)."""
    old = instance.replaces
    if old is not None and old.desired_state != DesiredState.REMOVED:
        remove(old)
