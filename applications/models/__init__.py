"""Application instances, and the node packages they are built from."""

from applications.models.instances import (
    PROCESSING_DEPLOYMENT,
    PROCESSING_REMOVAL,
    TERMINAL_STATUSES,
    ApplicationInstance,
    InstanceEvent,
    NodeInstance,
    RuntimeRole,
)
from applications.models.packages import (
    Asset,
    NodeFromTemplateJob,
    NodeInterface,
    NodePackage,
    PackageVersion,
    PatchAsset,
    PatchVersion,
)

__all__ = [
    "PROCESSING_DEPLOYMENT",
    "PROCESSING_REMOVAL",
    "TERMINAL_STATUSES",
    "ApplicationInstance",
    "Asset",
    "InstanceEvent",
    "NodeFromTemplateJob",
    "NodeInstance",
    "NodeInterface",
    "NodePackage",
    "PackageVersion",
    "PatchAsset",
    "PatchVersion",
    "RuntimeRole",
]
