"""What the deploy wizard knows about an application, and the override document it writes.

``analyse`` reads a graph.json: its camera placeholders (abstract camera nodes the operator
replaces with data sources), its overridable parameter nodes, and the inbound ports its nodes
may receive traffic on (the graph's routing rules, which the override must confirm, and the
ports that registered interfaces declare). ``build_override`` turns the operator's choices into
a ``nodeGraphOverrides`` document, as Panorama's console builds one from its *Select data
sources* and *Configure* steps (spec §4). ``prefill`` reads such a document back, so *Replace*
and *Clone* start from what an instance runs. The views live in applications/views/deploy.py.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from applications.models import ApplicationInstance
from applications.resolve import PayloadError, _patches, check_payloads
from core.status import NodeCategory
from manifests import catalog
from manifests.common import HOST_PORT_MAX, HOST_PORT_MIN
from manifests.payload import load_quietly

# The interface of the stock abstract camera (manifests/catalog.py defines the package).
ABSTRACT_CAMERA = f"{catalog.ABSTRACT_CAMERA}.rtsp_v1_interface"
ENVELOPE_VERSION = "2021-01-01"
CAMERA_VERSION = "1.0"
LAUNCH_MODES = ("onAppStart", "onSignal")
PARAMETER_DEFAULTS: dict[str, Any] = {"boolean": False, "int32": 0, "float32": 0.0, "string": ""}
# Instances that hold their device's resources (an application slot, host ports).


@dataclass(frozen=True)
class CameraSlot:
    """An abstract camera node: the data sources chosen for it replace it."""

    name: str
    title: str
    description: str
    mandatory: bool


@dataclass(frozen=True)
class Parameter:
    """An overridable parameter node, with its decorator."""

    name: str
    type: str
    value: Any
    title: str
    description: str
    constraint_text: str
    constraint_regex: str
    mandatory: bool


@dataclass(frozen=True)
class Route:
    """An inbound port of a node. ``in_graph``: the graph routes it, the override must confirm."""

    node: str
    container_port: int
    host_port: int | None
    title: str
    description: str
    in_graph: bool

    @property
    def key(self) -> str:
        return f"{self.node}:{self.container_port}"


@dataclass
class AppGraph:
    cameras: list[CameraSlot] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    fixed_cameras: int = 0  # concrete camera nodes; they count toward STREAMS_PER_APPLICATION
    node_names: set[str] = field(default_factory=set)


def _graph_body(text: str) -> dict[str, Any]:
    # load_quietly: None for text that is not JSON or nests too deeply (validation says why).
    doc = load_quietly(text) if text and text.strip() else {}
    body = doc.get("nodeGraph") if isinstance(doc, dict) else None
    return body if isinstance(body, dict) else {}


def _decorator(item: dict[str, Any]) -> dict[str, str]:
    decorator = item.get("decorator")
    return decorator if isinstance(decorator, dict) else {}


def manifest_errors(text: str) -> list[PayloadError]:
    """The graph's own problems (an override's are the wizard's business, not the manifest's)."""
    errors = [error for error in check_payloads(text, "") if error.document == "manifest"]
    if errors:
        return errors
    for index, node in enumerate(_graph_body(text).get("nodes") or []):
        if node.get("interface") == ABSTRACT_CAMERA and node.get("overridable") is not True:
            errors.append(
                PayloadError(
                    "manifest",
                    f"/nodeGraph/nodes/{index}/overridable",
                    f'camera node "{node["name"]}" is a placeholder for data sources but is '
                    "not overridable",
                    'set "overridable": true so that the data sources you choose can replace it',
                )
            )
    return errors


def analyse(text: str) -> AppGraph:
    """What the wizard asks about a (valid) graph."""
    body = _graph_body(text)
    graph = AppGraph()
    nodes = [node for node in body.get("nodes") or [] if isinstance(node, dict)]
    graph.node_names = {str(node.get("name")) for node in nodes}
    patches, _ = _patches(text, "")
    for node in nodes:
        interface = str(node.get("interface", ""))
        decorator = _decorator(node)
        if interface == ABSTRACT_CAMERA:
            graph.cameras.append(
                CameraSlot(
                    name=node["name"],
                    title=decorator.get("title", "") or node["name"],
                    description=decorator.get("description", ""),
                    mandatory=node.get("overrideMandatory") is True,
                )
            )
        elif interface in PARAMETER_DEFAULTS and node.get("overridable") is True:
            graph.parameters.append(
                Parameter(
                    name=node["name"],
                    type=interface,
                    value=node.get("value", PARAMETER_DEFAULTS[interface]),
                    title=decorator.get("title", "") or node["name"],
                    description=decorator.get("description", ""),
                    constraint_text=decorator.get("constraintText", ""),
                    constraint_regex=decorator.get("constraintRegex", ""),
                    mandatory=node.get("overrideMandatory") is True,
                )
            )
    rules = [rule for rule in body.get("networkRoutingRules") or [] if isinstance(rule, dict)]
    for rule in rules:
        decorator = _decorator(rule)
        graph.routes.append(
            Route(
                node=rule["node"],
                container_port=rule["containerPort"],
                host_port=rule.get("hostPort"),
                title=decorator.get("title", ""),
                description=decorator.get("description", ""),
                in_graph=True,
            )
        )
    routed = {(route.node, route.container_port) for route in graph.routes}
    for node in nodes:
        package, _, name = str(node.get("interface", "")).rpartition(".")
        patch = patches.get(package)
        interface = patch.interfaces.filter(name=name).first() if patch else None
        if interface is None:
            continue
        if interface.category == NodeCategory.MEDIA_SOURCE:
            graph.fixed_cameras += 1
        for port in interface.inbound_ports or []:
            if (node["name"], port.get("port")) not in routed:
                graph.routes.append(
                    Route(
                        node=node["name"],
                        container_port=port["port"],
                        host_port=None,
                        title="",
                        description=port.get("description", ""),
                        in_graph=False,
                    )
                )
    return graph


def _unique(base: str, taken: set[str]) -> str:
    base = base[:120]
    name, counter = base, 2
    while name in taken:
        name = f"{base}_{counter}"
        counter += 1
    taken.add(name)
    return name


def build_override(
    graph: AppGraph,
    *,
    account: str,
    cameras: dict[str, list[tuple[str, str]]],
    parameters: dict[str, Any],
    routes: list[tuple[str, int, int]],
) -> dict[str, Any]:
    """The override document for the operator's choices.

    ``cameras``: camera node → [(data source name, launch)]; each data source becomes a node
    named after it, of interface ``<account>::<name>.<name>`` (its camera package).
    ``parameters``: parameter node → value; each becomes ``<name>_override``. ``routes``:
    (node, containerPort, hostPort) to confirm.
    """
    taken = set(graph.node_names)
    packages: list[dict[str, str]] = []
    nodes: list[dict[str, Any]] = []
    node_overrides: list[dict[str, Any]] = []
    for slot in graph.cameras:
        chosen = cameras.get(slot.name) or []
        if not chosen:
            continue
        replacements = []
        for source, launch in chosen:
            package = f"{account}::{source}"
            if not any(item["name"] == package for item in packages):
                packages.append({"name": package, "version": CAMERA_VERSION})
            name = _unique(source, taken)
            nodes.append({"name": name, "interface": f"{package}.{source}", "launch": launch})
            replacements.append({"name": name})
        node_overrides.append({"replace": slot.name, "with": replacements})
    for parameter in graph.parameters:
        if parameter.name not in parameters:
            continue
        name = _unique(f"{parameter.name}_override", taken)
        nodes.append(
            {"name": name, "interface": parameter.type, "value": parameters[parameter.name]}
        )
        node_overrides.append({"replace": parameter.name, "with": [{"name": name}]})
    return {
        "nodeGraphOverrides": {
            "envelopeVersion": ENVELOPE_VERSION,
            "packages": packages,
            "nodes": nodes,
            "nodeOverrides": node_overrides,
            "networkRoutingRules": [
                {"node": node, "containerPort": container, "hostPort": host}
                for node, container, host in routes
            ],
        }
    }


def override_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2)


# --- reading an instance back (Replace, Clone) ---------------------------------------------------


def prefill(instance: ApplicationInstance) -> dict[str, Any]:
    """The choices an instance's override made, as the wizard's steps take them (JSON-safe)."""
    try:
        doc = json.loads(instance.overrides_payload or "{}")
    except ValueError:
        doc = {}
    body = doc.get("nodeGraphOverrides") if isinstance(doc, dict) else None
    body = body if isinstance(body, dict) else {}
    graph = analyse(instance.manifest_payload)
    own = {n.get("name"): n for n in body.get("nodes") or [] if isinstance(n, dict)}
    slots = {slot.name for slot in graph.cameras}
    parameters = {parameter.name for parameter in graph.parameters}
    result: dict[str, Any] = {"cameras": {}, "parameters": {}, "routes": {}}
    for item in body.get("nodeOverrides") or []:
        if not isinstance(item, dict):
            continue
        replaced = item.get("replace")
        chosen = [own.get(w.get("name")) for w in item.get("with") or [] if isinstance(w, dict)]
        chosen = [node for node in chosen if node]
        if replaced in slots:
            result["cameras"][replaced] = [
                [str(node.get("interface", "")).rpartition(".")[2], node.get("launch", "")]
                for node in chosen
            ]
        elif replaced in parameters and chosen and "value" in chosen[0]:
            result["parameters"][replaced] = chosen[0]["value"]
    for rule in body.get("networkRoutingRules") or []:
        if isinstance(rule, dict) and "hostPort" in rule:
            result["routes"][f"{rule.get('node')}:{rule.get('containerPort')}"] = rule["hostPort"]
    return result


# --- the device's resources ---------------------------------------------------------------------


def suggest_port(preferred: int | None, used: set[int]) -> int:
    """``preferred`` when it is free and allowed, else the first free host port from 8000."""
    allowed = range(HOST_PORT_MIN, HOST_PORT_MAX + 1)
    if preferred in allowed and preferred not in used:
        return preferred
    after = [port for port in allowed if port > (preferred or 0) and port not in used]
    free = after or [port for port in allowed if port not in used]
    return free[0] if free else HOST_PORT_MIN


# --- where an error is: a JSON pointer's line in the manifest text -------------------------------

_SPACE = re.compile(r"[ \t\n\r]*")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _scan(text: str, index: int, path: str, found: dict[str, int]) -> int:
    index = _SPACE.match(text, index).end()
    found.setdefault(path, index)
    opener = text[index : index + 1]
    if opener not in ("{", "["):
        _value, end = json.JSONDecoder().raw_decode(text, index)
        return end
    closer = "}" if opener == "{" else "]"
    index = _SPACE.match(text, index + 1).end()
    position = 0
    while text[index : index + 1] != closer:
        if opener == "{":
            start = index
            key, index = json.decoder.scanstring(text, index + 1)
            index = _SPACE.match(text, index).end() + 1  # past ":"
            child = f"{path}/{_escape(key)}"
            found.setdefault(child, start)
        else:
            child = f"{path}/{position}"
        index = _SPACE.match(text, _scan(text, index, child, found)).end()
        position += 1
        if text[index : index + 1] == ",":
            index = _SPACE.match(text, index + 1).end()
        elif text[index : index + 1] != closer:
            raise ValueError("malformed")
    return index + 1


def error_lines(text: str, paths: list[str]) -> list[int | None]:
    """The line (from 1) each JSON pointer starts on; a missing member gives its parent's line."""
    found: dict[str, int] = {}
    # In a broken document, the positions found up to the break still help.
    with contextlib.suppress(ValueError, IndexError):
        _scan(text, 0, "", found)
    lines: list[int | None] = []
    for path in paths:
        probe = path
        while probe not in found and probe:
            probe = probe.rpartition("/")[0]
        offset = found.get(probe)
        lines.append(None if offset is None else text.count("\n", 0, offset) + 1)
    return lines
