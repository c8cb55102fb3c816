"""Application instances, and the node packages they are built from."""

from applications.models.instances import ApplicationInstance
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
    "ApplicationInstance",
    "Asset",
    "NodeFromTemplateJob",
    "NodeInterface",
    "NodePackage",
    "PackageVersion",
    "PatchAsset",
    "PatchVersion",
]
