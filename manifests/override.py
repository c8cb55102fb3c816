"""Deploy-time override (``override.json``, ``nodeGraphOverrides``) validation — spec §4.

An override adds nodes (usually real cameras and parameter values) and swaps graph nodes for
them. Alone it can only be checked for shape and internal consistency; given the graph it is
checked against it: only ``overridable`` nodes may be replaced, ``overrideMandatory`` nodes must
be, a camera must be replaced by at least one camera, and the graph's routing rules repeated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalog import Catalog
from .common import (
    DESCRIPTION,
    EDGES,
    ENVELOPE,
    NODE_NAME_PATTERN,
    NODES,
    PACKAGES,
    ROUTING_RULES,
)
from .errors import Errors, ValidationError
from .nodes import (
    Index,
    NodeInfo,
    check_parameter_nodes,
    check_value_against,
    collect_includes,
    collect_nodes,
    names_hint,
    regex_budget,
    resolve_interfaces,
)
from .payload import check_payload_size, load, load_quietly
from .pointer import join
from .routing import check_routing_rules, rule_keys
from .schema import Arr, Obj, Str

BASE = "/nodeGraphOverrides"

REPLACEMENT = Obj(
    title="a replacement",
    fields={"name": Str(pattern=NODE_NAME_PATTERN)},
    required=("name",),
)

NODE_OVERRIDE = Obj(
    title="a node override",
    fields={
        "envelopeVersion": ENVELOPE,
        "replace": Str(pattern=NODE_NAME_PATTERN),
        "with": Arr(items=REPLACEMENT),
    },
    required=("replace", "with"),
)

NODE_GRAPH_OVERRIDES = Obj(
    title="nodeGraphOverrides",
    fields={
        "envelopeVersion": ENVELOPE,
        "description": DESCRIPTION,
        "packages": PACKAGES,
        "nodes": NODES,
        "networkRoutingRules": ROUTING_RULES,
        "edges": EDGES,
        "nodeOverrides": Arr(items=NODE_OVERRIDE),
    },
    required=("envelopeVersion",),
)

OVERRIDE_DOCUMENT = Obj(
    title="an override document",
    fields={"nodeGraphOverrides": NODE_GRAPH_OVERRIDES},
    required=("nodeGraphOverrides",),
)


def validate_override(
    doc: Any,
    *,
    graph: Any = None,
    packages: Mapping[str, Any] | None = None,
    raw: str | None = None,
) -> list[ValidationError]:
    """Validate a deploy-time override and return every problem found (never raises).

    ``graph`` is the application's graph.json (parsed or text); without it only the override's
    own consistency is checked, which also accepts templates such as the kinesis sample's
    ``"with": []`` that are filled in before deployment. ``packages`` is as for
    :func:`validate_graph` and ``raw`` is the exact text sent, for the payload limit. An empty
    text means "deploy without an override" (the API allows it) and is checked as such.
    """
    errors: Errors = []
    if isinstance(doc, str | bytes | bytearray) and not doc.strip():
        # ManifestOverridesPayload may be empty: the app is deployed without an override.
        # What the graph requires of an override is then reported against the whole payload.
        _check_semantics({}, _graph_body(graph), Catalog(packages), errors)
        return [ValidationError("", error.message, error.hint) for error in errors]
    doc, parsed_raw = load(doc, errors)
    if errors:
        return errors
    OVERRIDE_DOCUMENT.check(doc, "", errors)
    check_payload_size(doc, raw if raw is not None else parsed_raw, errors)
    body = doc.get("nodeGraphOverrides") if isinstance(doc, dict) else None
    if isinstance(body, dict):
        with regex_budget():
            _check_semantics(body, _graph_body(graph), Catalog(packages), errors)
    return errors


def _graph_body(graph: Any) -> dict[str, Any] | None:
    graph = load_quietly(graph)
    body = graph.get("nodeGraph") if isinstance(graph, dict) else None
    return body if isinstance(body, dict) else None


def _check_semantics(
    body: dict[str, Any], graph: dict[str, Any] | None, catalog: Catalog, errors: Errors
) -> None:
    included = collect_includes(body.get("packages"), f"{BASE}/packages", catalog, errors)
    own = collect_nodes(body.get("nodes"), f"{BASE}/nodes", errors)
    graph_nodes: Index | None = None
    if graph is not None:
        graph_includes = collect_includes(graph.get("packages"), "", catalog, [])
        graph_nodes = collect_nodes(graph.get("nodes"), "")
        resolve_interfaces(graph_nodes, graph_includes, catalog, [], "")
        included = Index.merge(included, graph_includes)
    resolve_interfaces(own, included, catalog, errors, f"{BASE}/packages")
    check_parameter_nodes(own, errors)
    replaced = _check_node_overrides(body.get("nodeOverrides"), own, graph_nodes, errors)
    rules_path = f"{BASE}/networkRoutingRules"
    everything = None if graph_nodes is None else Index.merge(graph_nodes, own)
    check_routing_rules(body.get("networkRoutingRules"), rules_path, everything, errors)
    if graph is None or graph_nodes is None:
        return
    for node in graph_nodes.values():
        if node.mandatory and node.name not in replaced:
            message = f'graph node "{node.name}" has "overrideMandatory": true but is not replaced'
            hint = f'add {{"replace": "{node.name}", "with": [{{"name": "<node>"}}]}}'
            errors.append(ValidationError(f"{BASE}/nodeOverrides", message, hint))
    confirmed = {(node, port) for _, node, port in rule_keys(body.get("networkRoutingRules"))}
    for _, node_name, port in rule_keys(graph.get("networkRoutingRules")):
        if (node_name, port) not in confirmed:
            message = (
                f'the graph routes container port {port} of "{node_name}" '
                "but the override does not repeat that rule"
            )
            hint = (
                f'add {{"node": "{node_name}", "containerPort": {port}, "hostPort": <8000-9000>}} '
                "to networkRoutingRules; deploy-time overrides must confirm every graph rule"
            )
            errors.append(ValidationError(rules_path, message, hint))


def _check_node_overrides(
    items: Any, own: Index, graph_nodes: Index | None, errors: Errors
) -> set[str]:
    """Check ``nodeOverrides[]``; return the names of the graph nodes it replaces."""
    replaced: dict[str, str] = {}
    base = f"{BASE}/nodeOverrides"
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        path = join(base, index)
        target_name = item.get("replace")
        target = None
        if isinstance(target_name, str) and NODE_NAME_PATTERN.matches(target_name):
            target = _check_target(target_name, join(path, "replace"), graph_nodes, errors)
            if target_name in replaced:
                message = f'node "{target_name}" is replaced more than once'
                hint = f"first replaced at {replaced[target_name]}; list all replacements there"
                errors.append(ValidationError(join(path, "replace"), message, hint))
            else:
                replaced[target_name] = join(path, "replace")
        with_items = item.get("with")
        if not isinstance(with_items, list):
            continue
        if not with_items and target is not None and target.is_camera:
            message = f'camera node "{target.name}" is replaced with no nodes'
            hint = (
                'list at least one camera node in "with"; an empty list is only valid in a '
                "template that is filled in before deployment"
            )
            errors.append(ValidationError(join(path, "with"), message, hint))
        for position, replacement in enumerate(with_items):
            name = replacement.get("name") if isinstance(replacement, dict) else None
            if not isinstance(name, str) or not NODE_NAME_PATTERN.matches(name):
                continue
            where = join(path, "with", position, "name")
            node = own.get(name)
            if node is None and not own.complete:
                continue
            if node is None:
                hint = names_hint(f"nodes defined in {BASE}/nodes", own)
                errors.append(ValidationError(where, f'unknown node "{name}"', hint))
            elif target is not None:
                _check_compatible(target, node, where, errors)
    return set(replaced)


def _check_target(
    name: str, path: str, graph_nodes: Index | None, errors: Errors
) -> NodeInfo | None:
    if graph_nodes is None:
        return None
    target = graph_nodes.get(name)
    if target is None and not graph_nodes.complete:
        return None
    if target is None:
        hint = names_hint("nodes of the graph", graph_nodes)
        errors.append(ValidationError(path, f'unknown graph node "{name}"', hint))
    elif not target.overridable:
        message = f'graph node "{name}" is not overridable'
        hint = 'only nodes the graph marks "overridable": true can be replaced'
        errors.append(ValidationError(path, message, hint))
        return None
    return target


def _check_compatible(target: NodeInfo, node: NodeInfo, path: str, errors: Errors) -> None:
    """A parameter is replaced by a parameter of its type, an interface node by interface nodes."""
    if target.param_type == node.param_type:
        decorator = target.raw.get("decorator")
        if node.is_param and isinstance(decorator, dict):
            owner = f'graph node "{target.name}"'
            regex, text = decorator.get("constraintRegex"), decorator.get("constraintText")
            check_value_against(node, regex, owner, errors, text)
        return
    if target.is_param or node.is_param:
        message = (
            f'cannot replace {target.kind_text()} "{target.name}" '
            f'with {node.kind_text()} "{node.name}"'
        )
        hint = "replace a parameter with a parameter node of the same type, an interface node "
        hint += "with interface nodes"
        errors.append(ValidationError(path, message, hint))
