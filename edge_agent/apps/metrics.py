"""Metrics of the applications' nodes, as the heartbeat's ``applications`` block carries them.

Runtime processes report their metrics on stdout (edge_agent/runtime/report.py): counters are
totals since *that process* started, so a restarted process counts from 0 again. ``AppMetrics``
keeps a running base per counter: when a counter goes down (or ``restarted()`` says so), what
the old process had counted is added to the base, and the console sees totals that only grow
for as long as the instance runs on this agent. Other numbers (fps, percentiles) are the
latest value; ``providers`` is a list of strings.

Code nodes report nothing themselves: ``error()`` counts their errors (a traceback or an ERROR
line on their console output, see ``applogs.ConsoleLevels``) as the ``errors`` counter, and
``exit_error()`` counts a process that ended unasked (a crash-looping node whose exits print
nothing still shows on the Errors chart) unless it already said why.

Thread-safe: the processes' reader tasks and the heartbeat may run anywhere.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from devicelink.appmetrics import clean_app_metrics

# Totals since a process started (report.py's docstring); everything else is a gauge.
COUNTERS = frozenset(
    {"frames", "media", "dropped", "reconnects", "calls", "errors", "skipped", "wire_bytes"}
)


class _Node:
    __slots__ = ("base", "errors", "errors_at_exit", "gauges", "raw")

    def __init__(self) -> None:
        self.base: dict[str, float] = {}  # what earlier processes of the node counted
        self.raw: dict[str, float] = {}  # the current process's last totals
        self.gauges: dict[str, Any] = {}
        self.errors = 0  # counted by the agent (code nodes), on top of reported errors
        self.errors_at_exit = 0  # ``errors`` at the last exit_error()


class AppMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nodes: dict[str, dict[str, _Node]] = {}

    def _node(self, application_instance_id: str, node: str) -> _Node:
        return self._nodes.setdefault(application_instance_id, {}).setdefault(node, _Node())

    def add(self, application_instance_id: str, node: str, values: Mapping[str, Any]) -> None:
        """A process's ``{"metrics": values}`` report."""
        with self._lock:
            state = self._node(application_instance_id, node)
            for name, value in values.items():
                if name in COUNTERS and isinstance(value, (int, float)):
                    last = state.raw.get(name, 0)
                    if value < last:  # a new process: it counts from 0 again
                        state.base[name] = state.base.get(name, 0) + last
                    state.raw[name] = value
                else:
                    state.gauges[name] = value

    def restarted(self, application_instance_id: str, node: str) -> None:
        """The node's process was restarted: fold its counts into the base now.

        ``add()`` notices a restart when a counter goes down, which misses a new process that
        overtakes the old one's count before its first report; the supervisor knows better.
        """
        with self._lock:
            state = self._node(application_instance_id, node)
            for name, value in state.raw.items():
                state.base[name] = state.base.get(name, 0) + value
            state.raw.clear()
            state.gauges.clear()  # the old process's rates say nothing about the new one

    def error(self, application_instance_id: str, node: str) -> None:
        """One more application error on ``node`` (its ``errors`` counter)."""
        with self._lock:
            self._node(application_instance_id, node).errors += 1

    def exit_error(self, application_instance_id: str, node: str) -> None:
        """The node's process ended unasked: one error, unless it counted one (a traceback, an
        ERROR line) since the last exit, which was this crash saying why."""
        with self._lock:
            state = self._node(application_instance_id, node)
            if state.errors == state.errors_at_exit:
                state.errors += 1
            state.errors_at_exit = state.errors

    def drop(self, application_instance_id: str) -> None:
        """The instance is gone from this agent: forget its metrics."""
        with self._lock:
            self._nodes.pop(application_instance_id, None)

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{instance id: {node: {metric: value}}}``, within the heartbeat's bounds."""
        with self._lock:
            document: dict[str, dict[str, dict[str, Any]]] = {}
            for instance_id, nodes in self._nodes.items():
                document[instance_id] = {}
                for name, state in nodes.items():
                    values: dict[str, Any] = dict(state.gauges)
                    for counter in state.base.keys() | state.raw.keys():
                        values[counter] = state.base.get(counter, 0) + state.raw.get(counter, 0)
                    if state.errors:
                        values["errors"] = values.get("errors", 0) + state.errors
                    document[instance_id][name] = values
        return clean_app_metrics(document)
