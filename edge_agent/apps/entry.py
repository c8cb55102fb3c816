"""A code node's runtimeDescriptor ``entry`` as the command line and environment it runs with."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from edge_agent.apps import sandbox

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class LaunchError(Exception):
    pass


def entry_argv(node: str, entry: dict[str, Any], code: Path) -> list[str]:
    """The runtimeDescriptor entry as a command line, with Panorama's paths (``/panorama/...``).

    ``python3`` (any ``python*``, or ``$default``) is the agent's own interpreter, so the
    packages installed with the agent are importable; ``bash`` and ``sh`` are the system's.
    """
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise LaunchError(f"{node}: the asset's descriptor has no runtimeDescriptor entry")
    inside = name if name.startswith("/") else f"{sandbox.CODE_DIR}/{name}"
    relative = os.path.relpath(inside, sandbox.CODE_DIR)
    if relative.startswith("..") or not (code / relative).is_file():
        raise LaunchError(f"{node}: the entry {name} is not in the container asset")
    interpreter = str(entry.get("path") or "$default")
    if interpreter == "$default" or interpreter.startswith("python"):
        argv = [sys.executable]
    elif interpreter in ("bash", "sh"):
        argv = [shutil.which(interpreter) or f"/bin/{interpreter}"]
    else:
        argv = [interpreter]
    return [*argv, inside, *[str(a) for a in entry.get("arguments") or []]]


def entry_env(entry: dict[str, Any]) -> dict[str, str]:
    """The entry's ``environment`` (``[{name, value}]``, or an ``env`` mapping)."""
    described = entry.get("environment") or entry.get("env") or []
    if isinstance(described, dict):
        return {str(k): str(v) for k, v in described.items()}
    return {
        str(e["name"]): str(e["value"])
        for e in described
        if isinstance(e, dict) and "name" in e and "value" in e
    }
