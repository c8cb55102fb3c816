"""What the graph checks need to know about packages: interfaces, their ports and inbound ports.

A graph only names ``<account>::<Package>.<interface>``; whether that interface exists, which
ports it has and of which type lives in the package's package.json. Callers pass the package.json
documents they have (``{"<account>::<Name>": doc}``); the two stock packages every device ships
with are built in, as in the official test utility. Documents are read defensively: validating
them is :func:`manifests.validate_package`'s job, here we only use what is well-formed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .payload import load_quietly
from .schema import is_int

PORT_TYPES = ("boolean", "int32", "float32", "string", "media")
CAMERA_CATEGORY = "media_source"
MODEL_CATEGORY = "ml_model"

ABSTRACT_CAMERA = "panorama::abstract_rtsp_media_source"
HDMI_SINK = "panorama::hdmi_data_sink"

#: The stock packages, written as package.json documents (spec §3.2 and §2.4).
STOCK_PACKAGES: dict[str, dict[str, Any]] = {
    ABSTRACT_CAMERA: {
        "nodePackage": {
            "envelopeVersion": "2021-01-01",
            "name": "abstract_rtsp_media_source",
            "version": "1.0",
            "assets": [
                {
                    "name": "rtsp_v1_asset",
                    "implementations": [
                        {"type": "system", "assetUri": "source/video/camera/rtsp/source_rtsp"}
                    ],
                }
            ],
            "interfaces": [
                {
                    "name": "rtsp_v1_interface",
                    "category": "media_source",
                    "asset": "rtsp_v1_asset",
                    "outputs": [{"name": "video_out", "type": "media"}],
                }
            ],
        }
    },
    HDMI_SINK: {
        "nodePackage": {
            "envelopeVersion": "2021-01-01",
            "name": "hdmi_data_sink",
            "version": "1.0",
            "interfaces": [
                {
                    "name": "hdmi0",
                    "category": "media_sink",
                    "inputs": [{"name": "video_in", "type": "media"}],
                }
            ],
        }
    },
}


@dataclass(frozen=True)
class Port:
    """One input or output port of an interface."""

    name: str
    type: str | None
    max_connections: int = 0
    constraint_regex: str | None = None


@dataclass(frozen=True)
class Interface:
    """One interface of a package, reduced to what the graph checks use."""

    package: str
    name: str
    category: str | None
    inputs: Mapping[str, Port] = field(default_factory=dict)
    outputs: Mapping[str, Port] = field(default_factory=dict)
    inbound_ports: tuple[int, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.package}.{self.name}"


@dataclass(frozen=True)
class PackageInfo:
    """A package known to the catalog; ``stock`` packages are not version-checked."""

    ref: str
    name: Any
    version: Any
    interfaces: Mapping[str, Interface]
    stock: bool = False


def _ports(items: Any) -> dict[str, Port]:
    ports: dict[str, Port] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        kind = item.get("type")
        regex = item.get("constraintRegex")
        limit = item.get("maxConnections")
        ports.setdefault(
            item["name"],
            Port(
                name=item["name"],
                type=kind if kind in PORT_TYPES else None,
                max_connections=limit if is_int(limit) and limit > 0 else 0,
                constraint_regex=regex if isinstance(regex, str) and regex else None,
            ),
        )
    return ports


def _inbound_ports(network: Any) -> tuple[int, ...]:
    items = network.get("inboundPorts") if isinstance(network, dict) else None
    return tuple(
        item["port"]
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and is_int(item.get("port"))
    )


def read_package(ref: str, doc: Any, *, stock: bool = False) -> PackageInfo:
    """Index a package.json document (or its text, or its inner ``nodePackage`` object)."""
    doc = load_quietly(doc)
    body = doc.get("nodePackage", doc) if isinstance(doc, dict) else {}
    body = body if isinstance(body, dict) else {}
    interfaces: dict[str, Interface] = {}
    items = body.get("interfaces")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        category = item.get("category")
        interfaces.setdefault(
            item["name"],
            Interface(
                package=ref,
                name=item["name"],
                category=category if isinstance(category, str) else None,
                inputs=_ports(item.get("inputs")),
                outputs=_ports(item.get("outputs")),
                inbound_ports=_inbound_ports(item.get("network")),
            ),
        )
    return PackageInfo(ref, body.get("name"), body.get("version"), interfaces, stock)


class Catalog:
    """Known packages by ``<account>::<Name>``: the caller's documents over the stock ones."""

    def __init__(self, packages: Mapping[str, Any] | None = None) -> None:
        self._packages = {
            ref: read_package(ref, doc, stock=True) for ref, doc in STOCK_PACKAGES.items()
        }
        for ref, doc in (packages or {}).items():
            self._packages[ref] = read_package(ref, doc)

    def get(self, ref: str) -> PackageInfo | None:
        return self._packages.get(ref)
