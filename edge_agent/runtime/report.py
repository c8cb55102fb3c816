"""How a runtime process (camera, model server, display) talks to the agent that started it.

- **stdout**: one line per event, ``@vantage {json}``:
  ``{"status": "RUNNING" | "ERROR", "message": "..."}`` when the node's state changes, and
  ``{"metrics": {...}}`` every ``metrics_interval_s`` (counters are totals since the process
  started; the agent adds them up across restarts).
- **stderr**: the node's log, one record per line ``LEVEL message`` (continuation lines, as in
  a traceback, start with a space); the agent ships it as the node's log stream (``stream``,
  ``model``, ``display``).

Metric names per kind:

- camera: ``frames`` (received), ``dropped`` (never taken by a consumer), ``reconnects``,
  ``fps`` (over the last interval);
- model: ``calls``, ``errors``, ``inference_ms_p50``, ``inference_ms_p99`` (last interval),
  ``providers`` (list of execution providers in use), ``wire_bytes`` (bytes the socket carried:
  requests and answers only, never tensors);
- display: ``frames`` (canvases composed), ``media`` (stream frames shown), ``fps``,
  ``latency_ms_p50``, ``latency_ms_p99`` (each shown frame, decoded → composed, last interval),
  ``skipped`` (frames overwritten before the display got to them).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any

PREFIX = "@vantage "
_lock = threading.Lock()


def _emit(document: dict[str, Any]) -> None:
    line = PREFIX + json.dumps(document, separators=(",", ":")) + "\n"
    with _lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def status(state: str, message: str = "") -> None:
    _emit({"status": state, "message": message[:2000]})


def metrics(values: dict[str, Any]) -> None:
    _emit({"metrics": values})


def parse(line: str) -> dict[str, Any] | None:
    """The agent's side: the event on a stdout line, None for any other output."""
    if not line.startswith(PREFIX):
        return None
    try:
        document = json.loads(line[len(PREFIX) :])
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text.replace("\n", "\n ")


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def parse_log(line: str) -> tuple[str, str]:
    """The agent's side: (level, message) of a stderr line; INFO when it names no level."""
    head, _, rest = line.partition(" ")
    if head in LEVELS:
        return head, rest
    return "INFO", line
