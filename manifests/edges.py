"""Edge semantics (spec §3.3): endpoints exist, directions and port types agree, limits hold.

An edge is ``"<node>.<outPort>" -> "<node>.<inPort>"``, or for parameters
``"<parameterNode>" -> "<node>.<inPort>"`` (a parameter's single, implicit output has the
parameter's type). Model nodes are never wired: code reaches them with
``node.call(input, "<modelNode>")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .catalog import MODEL_CATEGORY, Port
from .common import EDGE_END_PATTERN
from .errors import Errors, ValidationError
from .nodes import Index, NodeInfo, check_value_against, check_value_minimum, names_hint
from .pointer import join
from .schema import plural

TYPE_HINT = "both ends of an edge must have the same type (media, boolean, int32, float32, string)"


@dataclass(frozen=True)
class End:
    """A resolved edge end: the node, and the port when the node's interface is known."""

    node: NodeInfo
    type: str | None
    port: Port | None = None


def _split(text: Any) -> tuple[str, str | None] | None:
    if not isinstance(text, str) or not EDGE_END_PATTERN.matches(text):
        return None
    name, dot, port = text.partition(".")
    return name, (port if dot else None)


def _model_error(node: NodeInfo, path: str, errors: Errors) -> None:
    message = f'model node "{node.name}" must not be connected by edges'
    hint = f'code calls model nodes with node.call(input, "{node.name}"); remove this edge'
    errors.append(ValidationError(path, message, hint))


def _lookup(text: Any, side: str, nodes: Index, path: str, errors: Errors) -> End | None:
    """Resolve one end (``side`` is "producer" or "consumer"), reporting what is wrong."""
    parts = _split(text)
    if parts is None:
        return None  # the structural pass already reported it
    name, port_name = parts
    node = nodes.get(name)
    if node is None and not nodes.complete:
        return None  # probably the node whose malformed name was reported
    if node is None:
        hint = names_hint("nodes in this graph", nodes)
        errors.append(ValidationError(path, f'unknown node "{name}"', hint))
        return None
    if node.is_param:
        if side == "consumer":
            message = f'parameter node "{name}" has no input ports'
            hint = "parameter nodes can only be producers"
        elif port_name is not None:
            message = f'parameter node "{name}" has no port "{port_name}"'
            hint = f'write the parameter node name alone: "{name}"'
        else:
            return End(node, node.param_type)
        errors.append(ValidationError(path, message, hint))
        return None
    if node.iface is not None and node.iface.category == MODEL_CATEGORY:
        _model_error(node, path, errors)
        return None
    wanted, other = ("output", "input") if side == "producer" else ("input", "output")
    ports = None
    if node.iface is not None:
        ports = node.iface.outputs if side == "producer" else node.iface.inputs
    if port_name is None:
        message = f'{side} "{name}" must name one of the node\'s {wanted} ports'
        known = f": {', '.join(ports)}" if ports else ""
        hint = f"write '<node>.<{wanted} port>'{known}"
        errors.append(ValidationError(path, message, hint))
        return None
    if node.iface is None or ports is None:
        return End(node, None)  # interface unknown: nothing more to check
    if port_name in ports:
        return End(node, ports[port_name].type, ports[port_name])
    opposite = node.iface.inputs if side == "producer" else node.iface.outputs
    if port_name in opposite:
        message = f'"{text}" is an {other} port and cannot be a {side}'
    else:
        message = f'node "{name}" has no {wanted} port "{port_name}"'
    hint = names_hint(f"{wanted} ports of {node.iface.ref}", ports)
    errors.append(ValidationError(path, message, hint))
    return None


def check_edges(edges: Any, base: str, nodes: Index, errors: Errors) -> None:
    """Check every well-formed edge of ``edges`` (a graph's ``edges`` array)."""
    connections: dict[tuple[str, str], int] = {}
    for index, edge in enumerate(edges if isinstance(edges, list) else []):
        if not isinstance(edge, dict):
            continue
        path = join(base, index)
        producer = _lookup(edge.get("producer"), "producer", nodes, join(path, "producer"), errors)
        consumer = _lookup(edge.get("consumer"), "consumer", nodes, join(path, "consumer"), errors)
        if consumer is None or consumer.port is None:
            continue
        target = f"{consumer.node.name}.{consumer.port.name}"
        key = (consumer.node.name, consumer.port.name)
        count = connections[key] = connections.get(key, 0) + 1
        limit = consumer.port.max_connections
        if limit and count > limit:
            message = f'input port "{target}" accepts at most {plural(limit, "connection")}'
            hint = "remove this edge, or raise maxConnections in the interface (0 means no limit)"
            errors.append(ValidationError(join(path, "consumer"), message, hint))
        if producer is None:
            continue
        if producer.type and consumer.type and producer.type != consumer.type:
            message = (
                f'type mismatch: "{edge["producer"]}" produces {producer.type} '
                f'but "{target}" accepts {consumer.type}'
            )
            errors.append(ValidationError(path, message, TYPE_HINT))
        elif producer.node.is_param:
            owner = f'input port "{target}"'
            check_value_against(producer.node, consumer.port.constraint_regex, owner, errors)
            check_value_minimum(producer.node, consumer.port.minimum, owner, errors)
