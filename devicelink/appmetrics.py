"""Bounds of the ``applications`` block of a heartbeat: metrics per instance and node.

A heartbeat must never be refused for its metrics (the console would close the link, and the
lease would run out over a misbehaving node), so ``clean_app_metrics`` trims instead of
failing: numbers must be finite, lists hold strings (``providers``), and what exceeds the
limits below is left out. Both sides use it: the agent before sending, the console's decoder
on what arrives.
"""

from __future__ import annotations

import math
from typing import Any

MAX_INSTANCES = 20
MAX_NODES = 32
MAX_METRICS = 24
MAX_NAME = 128
MAX_LIST = 16
MAX_TEXT = 64


def _value(value: Any) -> float | int | list[str] | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if abs(value) < 2**53 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [str(item)[:MAX_TEXT] for item in value[:MAX_LIST] if isinstance(item, str)]
    return None


def _named(document: Any, limit: int) -> list[tuple[str, Any]]:
    if not isinstance(document, dict):
        return []
    items = [(key, value) for key, value in document.items() if isinstance(key, str)]
    return [(key, value) for key, value in items if 0 < len(key) <= MAX_NAME][:limit]


def clean_app_metrics(document: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """``{instance id: {node: {metric: number | [str]}}}`` within the bounds above."""
    cleaned: dict[str, dict[str, dict[str, Any]]] = {}
    for instance_id, nodes in _named(document, MAX_INSTANCES):
        if not isinstance(nodes, dict):
            continue
        per_node: dict[str, dict[str, Any]] = {}
        for node, metrics in _named(nodes, MAX_NODES):
            if not isinstance(metrics, dict):
                continue
            values = {}
            for name, raw in _named(metrics, MAX_METRICS):
                value = _value(raw)
                if value is not None:
                    values[name] = value
            per_node[node] = values
        cleaned[instance_id] = per_node
    return cleaned
