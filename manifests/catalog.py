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
from .schema import is_int, is_number

PORT_TYPES = ("boolean", "int32", "float32", "string", "string[]", "media")
CAMERA_CATEGORY = "media_source"
MODEL_CATEGORY = "ml_model"

#: The system assets a device implements itself (spec §5.2), and the category each implies:
#: an interface implemented by one may leave out ``category`` (panorama-cli's file source does).
RTSP_SOURCE_ASSET = "source/video/camera/rtsp/source_rtsp"
FILE_SOURCE_ASSET = "source/video/file"
HDMI_SINK_ASSET = "sink/video/hdmi/sink_hdmi"
SYSTEM_ASSET_CATEGORIES = {
    RTSP_SOURCE_ASSET: CAMERA_CATEGORY,
    FILE_SOURCE_ASSET: CAMERA_CATEGORY,
    HDMI_SINK_ASSET: "media_sink",
}

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
                    "implementations": [{"type": "system", "assetUri": RTSP_SOURCE_ASSET}],
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
    minimum: float | None = None  # int32 and float32 input ports (panorama-cli's file source)


@dataclass(frozen=True)
class Interface:
    """One interface of a package, reduced to what the graph checks use."""

    package: str
    name: str
    category: str | None
    inputs: Mapping[str, Port] = field(default_factory=dict)
    outputs: Mapping[str, Port] = field(default_factory=dict)
    inbound_ports: tuple[int, ...] = ()
    system_asset: str | None = None  # the assetUri of the system asset implementing it

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
        minimum = item.get("minimum")
        ports.setdefault(
            item["name"],
            Port(
                name=item["name"],
                type=kind if kind in PORT_TYPES else None,
                max_connections=limit if is_int(limit) and limit > 0 else 0,
                constraint_regex=regex if isinstance(regex, str) and regex else None,
                minimum=minimum if is_number(minimum) else None,
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


def system_asset(body: Any, asset_name: Any) -> str | None:
    """The assetUri of the system implementation of the asset ``asset_name`` names, if any."""
    assets = body.get("assets") if isinstance(body, dict) else None
    for asset in assets if isinstance(assets, list) else []:
        if not isinstance(asset, dict) or asset.get("name") != asset_name:
            continue
        implementations = asset.get("implementations")
        for item in implementations if isinstance(implementations, list) else []:
            if isinstance(item, dict) and item.get("type") == "system":
                uri = item.get("assetUri")
                return uri if isinstance(uri, str) else None
    return None


def interface_category(body: Any, interface: dict[str, Any]) -> str | None:
    """The interface's ``category``, or the one its system asset implies when it has none."""
    category = interface.get("category")
    if isinstance(category, str):
        return category
    return SYSTEM_ASSET_CATEGORIES.get(system_asset(body, interface.get("asset")) or "")


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
        interfaces.setdefault(
            item["name"],
            Interface(
                package=ref,
                name=item["name"],
                category=interface_category(body, item),
                inputs=_ports(item.get("inputs")),
                outputs=_ports(item.get("outputs")),
                inbound_ports=_inbound_ports(item.get("network")),
                system_asset=system_asset(body, item.get("asset")),
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
