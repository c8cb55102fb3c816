"""``networkRoutingRules`` semantics (spec §3.5), shared by graphs and overrides.

Inbound TCP reaches a container only when a rule maps a device host port to a container port
that the node's interface declares in ``network.inboundPorts``; anything else silently never
receives traffic on the device, so it is reported here instead.
"""

from __future__ import annotations

from typing import Any

from .catalog import Interface
from .common import NODE_NAME
from .errors import Errors, ValidationError
from .nodes import Index, names_hint
from .pointer import join
from .schema import is_int


def rule_keys(rules: Any) -> list[tuple[int, str, int]]:
    """``(index, node, containerPort)`` of every well-formed rule."""
    return [
        (index, rule["node"], rule["containerPort"])
        for index, rule in enumerate(rules if isinstance(rules, list) else [])
        if isinstance(rule, dict)
        and isinstance(rule.get("node"), str)
        and is_int(rule.get("containerPort"))
    ]


def check_routing_rules(rules: Any, base: str, nodes: Index | None, errors: Errors) -> None:
    """Check rule targets and ports; ``nodes`` is ``None`` when the graph is not known."""
    host_ports: dict[int, str] = {}
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, dict):
            continue
        path = join(base, index)
        host = rule.get("hostPort")
        if is_int(host):
            if host in host_ports:
                message = f"host port {host} is used by more than one rule"
                hint = f"first used at {host_ports[host]}; give each rule its own hostPort"
                errors.append(ValidationError(join(path, "hostPort"), message, hint))
            else:
                host_ports[host] = join(path, "hostPort")
        name = rule.get("node")
        if nodes is None or not isinstance(name, str) or not NODE_NAME.accepts(name):
            continue
        node = nodes.get(name)
        if node is None and not nodes.complete:
            continue  # probably the node whose malformed name was reported
        if node is None:
            hint = names_hint("nodes of the application", nodes)
            errors.append(ValidationError(join(path, "node"), f'unknown node "{name}"', hint))
        elif node.is_param:
            message = f'node "{name}" is a parameter node and has no inbound ports'
            hint = "route to a code node whose interface declares network.inboundPorts"
            errors.append(ValidationError(join(path, "node"), message, hint))
        elif node.iface is not None:
            port_path = join(path, "containerPort")
            _check_container_port(rule.get("containerPort"), node.iface, port_path, errors)


def _check_container_port(port: Any, iface: Interface, path: str, errors: Errors) -> None:
    if not is_int(port) or port in iface.inbound_ports:
        return
    message = f'container port {port} is not declared in network.inboundPorts of "{iface.ref}"'
    if iface.inbound_ports:
        hint = names_hint("declared inbound ports", (str(p) for p in iface.inbound_ports))
    else:
        hint = f'the interface declares no inbound ports; add {{"port": {port}}} to them'
    errors.append(ValidationError(path, message, hint))
