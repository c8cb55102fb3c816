"""Nodes: ListNodes and DescribeNode. A node is one interface of one registered patch version
(``NodeInterface``), with the NodeId the REST API gives it:
``<PackageName>-<PackageVersion>-<first 8 hex of the patch>-<interface>``."""

from __future__ import annotations

import json
import re
from typing import Any

from applications.api.package_serializers import NodeSerializer
from applications.models import NodeInterface
from panorama_api.call import Call
from panorama_api.errors import NotFound
from panorama_api.operations.packages import account_id, check_owner, package_arn, present
from panorama_api.pagination import page
from panorama_api.registry import operation

# Where a NodeId's package name ends: "-<major>.<minor>-<8 hex>-".
NODE_ID_MIDDLE = re.compile(r"-(?P<version>[0-9]+\.[0-9]+)-(?P<patch>[0-9a-f]{8})-")


def node_id(node: NodeInterface) -> str:
    return NodeSerializer().get_node_id(node)


def nodes() -> Any:
    return NodeInterface.objects.filter(
        patch__package_version__package__account_id=account_id()
    ).select_related("patch__package_version__package")


def _node(node: NodeInterface) -> dict[str, Any]:
    version = node.patch.package_version
    package = version.package
    return {
        "NodeId": node_id(node),
        "Name": node.name,
        "Category": node.category,
        "OwnerAccount": package.account_id,
        "PackageName": package.name,
        "PackageId": package.package_id,
        "PackageArn": package_arn(package),
        "PackageVersion": version.version,
        "PatchVersion": node.patch.patch,
        "Description": node.description,
        "CreatedTime": node.patch.registered or node.patch.created,
    }


def _default(value: Any) -> str | None:
    """PortDefaultValue is a string (1..255): package.json's typed default, written out."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:255] or None


def _port_type(port: dict[str, Any]) -> str | None:
    kind = port.get("type")
    return kind.upper() if isinstance(kind, str) else None


def _interface(node: NodeInterface) -> dict[str, Any]:
    inputs = [
        present(
            {
                "Name": port.get("name"),
                "Type": _port_type(port),
                "DefaultValue": _default(port.get("default")),
                "Description": port.get("description"),
                "MaxConnections": port.get("maxConnections"),
            }
        )
        for port in node.inputs or []
        if isinstance(port, dict)
    ]
    outputs = [
        present(
            {
                "Name": port.get("name"),
                "Type": _port_type(port),
                "Description": port.get("description"),
            }
        )
        for port in node.outputs or []
        if isinstance(port, dict)
    ]
    return {"Inputs": inputs, "Outputs": outputs}


@operation("ListNodes")
def list_nodes(
    call: Call,
    *,
    Category: str | None = None,
    OwnerAccount: str | None = None,
    PackageName: str | None = None,
    PackageVersion: str | None = None,
    PatchVersion: str | None = None,
    MaxResults: int | None = None,
    NextToken: str | None = None,
) -> dict[str, Any]:
    found = nodes()
    if OwnerAccount is not None and OwnerAccount != account_id():
        found = found.none()  # every package here is this installation's
    if Category:
        found = found.filter(category=Category)
    if PackageName:
        found = found.filter(patch__package_version__package__name=PackageName)
    if PackageVersion:
        found = found.filter(patch__package_version__version=PackageVersion)
    if PatchVersion:
        found = found.filter(patch__patch=PatchVersion)
    found = found.order_by(
        "patch__package_version__package__name", "patch__package_version__version",
        "-patch__created", "name", "pk",
    )  # fmt: skip
    chunk, token = page(found, MaxResults, NextToken, "ListNodes")
    return present({"Nodes": [_node(n) for n in chunk], "NextToken": token})


@operation("DescribeNode")
def describe_node(call: Call, *, NodeId: str, OwnerAccount: str | None = None) -> dict[str, Any]:
    check_owner(OwnerAccount)
    node = find_node(NodeId)
    return present(
        {
            **_node(node),
            "Description": node.description,  # required, may be empty
            "NodeInterface": _interface(node),
            "AssetName": node.asset_name,
            "LastUpdatedTime": node.patch.registered or node.patch.created,
        }
    ) | {"Description": node.description}


def find_node(value: str) -> NodeInterface:
    """The node a NodeId names. Package and interface names may hold hyphens, so every place
    where ``-<version>-<patch8>-`` could split it is tried."""
    for match in NODE_ID_MIDDLE.finditer(value):
        package, interface = value[: match.start()], value[match.end() :]
        if not package or not interface:
            continue
        node = (
            nodes()
            .filter(
                name=interface,
                patch__package_version__package__name=package,
                patch__package_version__version=match["version"],
                patch__patch__startswith=match["patch"],
            )
            .order_by("-patch__is_latest", "-patch__created")
            .first()
        )
        if node is not None:
            return node
    raise NotFound(f"Node {value} not found.", value, "node")
