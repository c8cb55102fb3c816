"""Application manifest (``graph.json``, ``nodeGraph``) validation — spec §3.

Beyond the structure, the graph is where most deploy-time failures come from: interfaces that do
not exist, edges between ports that do not exist or have different types, parameter values the
device cannot hold, wired model nodes and routing rules the device will never honour.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalog import Catalog
from .common import DESCRIPTION, EDGES, ENVELOPE, NODE, PACKAGE_INCLUDE, ROUTING_RULES
from .edges import check_edges
from .errors import Errors, ValidationError
from .nodes import (
    check_parameter_nodes,
    collect_includes,
    collect_nodes,
    regex_budget,
    resolve_interfaces,
)
from .payload import check_payload_size, load
from .routing import check_routing_rules
from .schema import Arr, Obj

BASE = "/nodeGraph"

NODE_GRAPH = Obj(
    title="nodeGraph",
    fields={
        "envelopeVersion": ENVELOPE,
        "description": DESCRIPTION,
        "packages": Arr(items=PACKAGE_INCLUDE, min_items=1),
        "nodes": Arr(items=NODE, min_items=1),
        "edges": EDGES,
        "networkRoutingRules": ROUTING_RULES,
    },
    required=("envelopeVersion", "packages", "nodes"),
)

GRAPH_DOCUMENT = Obj(
    title="a graph.json document",
    fields={"nodeGraph": NODE_GRAPH},
    required=("nodeGraph",),
)


def validate_graph(
    doc: Any, *, packages: Mapping[str, Any] | None = None, raw: str | None = None
) -> list[ValidationError]:
    """Validate an application manifest and return every problem found (never raises).

    ``doc`` is the parsed document, or its JSON text/bytes. ``packages`` maps
    ``"<account>::<Name>"`` to package.json documents; with them (and with the built-in stock
    packages) interfaces, ports, port types, model nodes and inbound ports are checked too.
    ``raw`` is the exact text that will be sent, for the 51,200-character payload limit.
    """
    errors: list[ValidationError] = []
    doc, parsed_raw = load(doc, errors)
    if errors:
        return errors
    raw = raw if raw is not None else parsed_raw
    GRAPH_DOCUMENT.check(doc, "", errors)
    check_payload_size(doc, raw, errors)
    graph = doc.get("nodeGraph") if isinstance(doc, dict) else None
    if isinstance(graph, dict):
        with regex_budget():
            check_graph_semantics(graph, Catalog(packages), errors)
    return errors


def check_graph_semantics(graph: dict[str, Any], catalog: Catalog, errors: Errors) -> None:
    """Cross-field rules of a structurally checked ``nodeGraph`` object."""
    included = collect_includes(graph.get("packages"), f"{BASE}/packages", catalog, errors)
    nodes = collect_nodes(graph.get("nodes"), f"{BASE}/nodes", errors)
    resolve_interfaces(nodes, included, catalog, errors, f"{BASE}/packages")
    check_parameter_nodes(nodes, errors)
    check_edges(graph.get("edges"), f"{BASE}/edges", nodes, errors)
    check_routing_rules(
        graph.get("networkRoutingRules"), f"{BASE}/networkRoutingRules", nodes, errors
    )
