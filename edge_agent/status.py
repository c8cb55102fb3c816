"""``<data>/status.json``, which the running agent keeps current, and the ``status`` command."""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import edge_agent
from edge_agent.config import AgentPaths, agent_running, read_json
from edge_agent.identity import load_identity
from edge_agent.outbox import count_pending
from edge_agent.software import Software

logger = logging.getLogger("edge_agent.status")


class StatusFile:
    """Merges updates into status.json; writes only when something changed."""

    def __init__(self, paths: AgentPaths) -> None:
        self.paths = paths
        self._data: dict[str, Any] = {
            "pid": os.getpid(),
            "software_version": edge_agent.__version__,
            "state": "booting",
            "connected": False,
            "since": None,
            "last_heartbeat_ack": None,
            "last_error": "",
            "queued_reports": 0,
            "pending_job": None,
        }

    def update(self, **fields: Any) -> None:
        changed = {k: v for k, v in fields.items() if self._data.get(k) != v}
        if not changed and self.paths.status.exists():
            return
        self._data.update(changed)
        self._data["updated"] = time.time()
        try:
            _write_quickly(self.paths.status, self._data)
        except OSError as exc:  # a full disk: the next change writes it all again
            logger.debug("status.json not written: %s", exc)


def _write_quickly(path: Path, document: dict[str, Any]) -> None:
    """Atomic (readers see the old or the new file) but not synced: the link rewrites
    status.json at every heartbeat, in its event loop, and an fsync there waits for everything
    the disk has pending (a download, say) and holds up the next heartbeat. Losing the last
    update to a power cut costs nothing: the next start writes it again."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _when(value: float | None) -> str:
    if not value:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def collect(paths: AgentPaths) -> dict[str, Any]:
    """Everything ``status`` shows, as one document (``status --json`` prints it)."""
    identity = load_identity(paths)
    running = agent_running(paths)
    link = read_json(paths.status, {}) or {}
    if not running:
        # A stale status.json from an agent that is gone must not claim a live link.
        link = {**link, "connected": False}
    software = Software(paths)
    installed = software.installed_version() or edge_agent.__version__
    return {
        "provisioned": identity is not None,
        "device_id": identity.device_id if identity else None,
        "device_name": identity.device_name if identity else None,
        "console_url": identity.console_url if identity else None,
        "serial_number": identity.serial_number if identity else None,
        "agent_running": running,
        "running_version": link.get("software_version") if running else None,
        "installed_version": installed,
        # The version the appliance runs, or will run at its next start.
        "software_version": (link.get("software_version") if running else None) or installed,
        "installed_is_builtin": software.installed_version() is None,
        "state": link.get("state", "stopped") if running else "stopped",
        "connected": bool(link.get("connected")),
        "since": link.get("since"),
        "last_heartbeat_ack": link.get("last_heartbeat_ack"),
        "last_error": link.get("last_error", ""),
        "queued_reports": count_pending(paths.outbox) or 0,
        "pending_job": link.get("pending_job") or _rebooting_job(paths),
        "data_dir": str(paths.data_dir),
    }


def _rebooting_job(paths: AgentPaths) -> str | None:
    state = read_json(paths.state, {}) or {}
    rebooting = state.get("rebooting")
    return rebooting.get("job_id") if isinstance(rebooting, dict) else None


def render(info: dict[str, Any]) -> str:
    installed = info["installed_version"] + (" (built-in)" if info["installed_is_builtin"] else "")
    link = f"connected since {_when(info['since'])}" if info["connected"] else "not connected"
    rows = [
        ("Provisioned", "yes" if info["provisioned"] else "no (waiting for a USB archive)"),
        ("Device", f"{info['device_id']} ({info['device_name']})" if info["provisioned"] else "-"),
        ("Console", info["console_url"] or "-"),
        ("Agent", f"running ({info['state']})" if info["agent_running"] else "not running"),
        ("Software", f"running {info['running_version'] or '-'}, installed {installed}"),
        ("Link", link),
        ("Last heartbeat ack", _when(info["last_heartbeat_ack"])),
        ("Last error", info["last_error"] or "-"),
        ("Queued reports", str(info["queued_reports"])),
        ("Pending job", info["pending_job"] or "none"),
        ("Data directory", info["data_dir"]),
    ]
    width = max(len(name) for name, _ in rows) + 2
    return "\n".join(f"{name + ':':<{width}}{value}" for name, value in rows)


def print_status(paths: AgentPaths, as_json: bool) -> int:
    info = collect(paths)
    print(json.dumps(info, indent=2) if as_json else render(info))
    return 0
