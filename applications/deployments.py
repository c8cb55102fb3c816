"""The application instance lifecycle (DESIGN §4): deploy, follow the device, remove, signal.

This module is the entry points' (pages, REST and Panorama API); the steps themselves, which
the Celery tasks share, are in workflow.py and re-exported here.

``request_deployment`` validates and records a new instance (DEPLOYMENT_PENDING, "Deployment
Workflow has been scheduled.") and queues ``tasks.deploy_instance``, which resolves it into the
spec the device runs and publishes the device's desired state (DEPLOYMENT_REQUESTED); if the
broker is down, nothing is saved and the caller gets ``core.errors.ServiceUnavailable``. What the
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

from applications import tasks
from applications.models import (
    CPU_LIMIT,
    MEMORY_LIMIT_MIB,
    ApplicationInstance,
    RuntimeRole,
)
from applications.resolve import (
    DeployRefused,
    PayloadError,
    check_payloads,
    resolve,
    used_host_ports,
)
from applications.workflow import SCHEDULED, record

# Part of this module's interface (pages, APIs, the link and the tests call them here): removal
# and following the device's reports are steps of the workflow too.
from applications.workflow import apply_report as apply_report
from applications.workflow import remove as remove
from core import groups
from core.errors import QuotaExceeded, SignalRefused
from core.live import request_resync
from core.status import (
    ApplicationInstanceHealthStatus as Health,
)
from core.status import (
    ApplicationInstanceStatus as Status,
)
from core.status import (
    DeviceStatus,
)
from devices import desired
from devices.models import Device

logger = logging.getLogger(__name__)


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
    which quota. The work itself continues in a Celery task; ServiceUnavailable when the task
    broker cannot take it, and then nothing is saved."""
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
        # Last, inside the transaction: if the broker cannot take the task, ServiceUnavailable
        # rolls all of this back (tasks.queue_deployment says why not on commit).
        tasks.queue_deployment(instance.pk)
    return instance


def _port_conflicts(
    device: Device, spec: Any, overrides_text: str, replaces: ApplicationInstance | None
) -> list[PayloadError]:
    """Host ports another application on the device holds already."""
    used = used_host_ports(device, exclude=replaces)
    try:
        in_override = bool(json.loads(overrides_text or "{}").get("nodeGraphOverrides", {})
                           .get("networkRoutingRules"))  # fmt: skip
    except (ValueError, AttributeError, RecursionError):
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


def signal_nodes(instance: ApplicationInstance, signals: list[tuple[str, str]]) -> None:
    """PAUSE or RESUME camera node instances; the device acts on the next desired state."""
    if not instance.is_active:
        raise SignalRefused(
            f"{instance.name} is {instance.status} and no longer runs; it takes no signals."
        )
    nodes = {node.node_instance_id: node for node in instance.node_instances.all()}
    unknown = [name for name, _ in signals if name not in nodes]
    if unknown:
        raise SignalRefused(f"No node instance {', '.join(unknown)} in {instance.name}.")
    not_cameras = [name for name, _ in signals if nodes[name].kind != "camera"]
    if not_cameras:
        raise SignalRefused(
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
