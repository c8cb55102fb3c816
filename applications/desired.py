"""The applications part of a device's desired state (docs/protocol.md, "Applications")."""

from __future__ import annotations

from django.conf import settings

from applications.models import ApplicationInstance
from core.status import ApplicationInstanceStatus as Status
from core.status import DesiredState
from devicelink.apps import ApplicationSpec, ResourceLimits, StreamSource
from devicelink.status import NodeSignal
from devices import secrets


def resource_limits(instance: ApplicationInstance) -> ResourceLimits:
    """The instance's own limits, or the installation's defaults (0: no limit)."""
    memory = instance.memory_limit_mib or settings.APP_MEMORY_LIMIT_MIB
    cpus = instance.cpu_limit or settings.APP_CPU_LIMIT
    return ResourceLimits(memory_mib=memory or None, cpus=cpus or None)


def device_applications(device) -> list[ApplicationSpec]:
    """Every instance that should exist on ``device``, with this device's secrets filled in
    (sealed to its key: devices/secrets.py)."""
    specs = []
    instances = (
        ApplicationInstance.objects.filter(device=device, desired_state=DesiredState.RUNNING)
        .exclude(status__in=[Status.DEPLOYMENT_PENDING, Status.DEPLOYMENT_FAILED])
        .exclude(spec={})
        .select_related("runtime_role")
        .prefetch_related("node_instances")
    )
    for instance in instances:
        spec = ApplicationSpec.model_validate(instance.spec)
        spec.generation = max(1, instance.generation)
        nodes = {node.node_instance_id: node for node in instance.node_instances.all()}
        for node in spec.nodes:
            record = nodes.get(node.name)
            if record is None:
                continue
            node.signal = NodeSignal(record.signal) if record.signal else None
            if node.kind == "camera" and record.stream_url:
                username, password = record.stream_credentials()
                node.stream = StreamSource(
                    url=record.stream_url, username=username, password=password
                )
        if instance.runtime_role is not None:
            spec.environment = instance.runtime_role.environment()
        spec.limits = resource_limits(instance)
        # Sealed to the device's key, or withheld where the link is not trusted with them.
        secrets.prepare_spec(device, spec)
        specs.append(spec)
    return specs
