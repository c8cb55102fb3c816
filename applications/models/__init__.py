"""Application instances, and the node packages they are built from."""

from applications.models.compiles import CompiledModel
from applications.models.instances import (
    CPU_LIMIT,
    GONE_STATUSES,
    MEMORY_LIMIT_MIB,
    PROCESSING_DEPLOYMENT,
    PROCESSING_REMOVAL,
    TERMINAL_STATUSES,
    ApplicationInstance,
    InstanceEvent,
    NodeInstance,
    RuntimeRole,
    active_q,
)
from applications.models.metrics import InstanceMetricSample
from applications.models.packages import (
    Asset,
    NodeFromTemplateJob,
    NodeInterface,
    NodePackage,
    PackageImportJob,
    PackageVersion,
    PatchAsset,
    PatchVersion,
)

__all__ = [
    "CPU_LIMIT",
    "GONE_STATUSES",
    "MEMORY_LIMIT_MIB",
    "PROCESSING_DEPLOYMENT",
    "PROCESSING_REMOVAL",
    "TERMINAL_STATUSES",
    "ApplicationInstance",
    "Asset",
    "CompiledModel",
    "InstanceEvent",
    "InstanceMetricSample",
    "NodeFromTemplateJob",
    "NodeInstance",
    "NodeInterface",
    "NodePackage",
    "PackageImportJob",
    "PackageVersion",
    "PatchAsset",
    "PatchVersion",
    "RuntimeRole",
    "active_q",
]
