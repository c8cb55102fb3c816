"""Start the installed agent version instead of the built-in one (run by ``__main__`` first).

After an OTA update ``<data>/software/current`` names the version to run and
``<data>/software/<version>/`` holds its ``edge_agent`` and ``devicelink`` packages. This module
re-executes ``python -P -m edge_agent <same arguments>`` with that folder first on PYTHONPATH,
so the new version's packages are the ones imported (``-P`` keeps the working directory off
sys.path). Standard library only, and nothing else of the agent is imported before it runs,
so a broken dependency of one version cannot stop another version from starting.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

DATA_DIR_ENV = "VANTAGE_AGENT_DATA_DIR"
DEFAULT_DATA_DIR = "/var/lib/vantage-agent"
# Set in the re-executed process: which folder it was started from, the PYTHONPATH it had
# before, and the folder of the agent that started it (so a restart can start over from there).
BOOTSTRAP_ENV = "VANTAGE_AGENT_BOOTSTRAP"
# ``bundle`` packs the checkout it runs from and ``reset`` may replace the installed folder, so
# only these commands switch to the installed version.
COMMANDS = {"run", "status", "version"}
_VERSION = re.compile(r"^[0-9]{1,6}\.[0-9]{1,6}\.[0-9]{1,6}$")


def data_dir_from(argv: list[str], environ: Mapping[str, str]) -> Path:
    """The data directory the command will use: ``--data-dir``, else the env var, else default."""
    for index, arg in enumerate(argv):
        if arg == "--data-dir" and index + 1 < len(argv):
            return Path(argv[index + 1])
        if arg.startswith("--data-dir="):
            return Path(arg.split("=", 1)[1])
    return Path(environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def installed_folder(data_dir: Path) -> Path | None:
    """``<data>/software/<current>`` if ``current`` names an installed version, else None."""
    try:
        version = (data_dir / "software" / "current").read_text().strip()
    except OSError:
        return None
    folder = data_dir / "software" / version
    if _VERSION.match(version) and (folder / "edge_agent" / "__main__.py").is_file():
        return folder
    return None


def plan(
    argv: list[str], environ: Mapping[str, str], running_root: Path
) -> tuple[list[str], dict[str, str]] | None:
    """The argv and environment to re-execute with, or None to go on with this process."""
    if not argv or argv[0] not in COMMANDS:
        return None
    folder = installed_folder(data_dir_from(argv, environ))
    if folder is None or folder.resolve() == running_root.resolve():
        return None
    marker = environ.get(BOOTSTRAP_ENV)
    previous = json.loads(marker) if marker else None
    if previous and previous.get("folder") == str(folder):
        # We were started for that folder and still do not run from it: do not loop.
        print(f"edge_agent: could not start the installed {folder}; going on", file=sys.stderr)
        return None
    original = previous["pythonpath"] if previous else environ.get("PYTHONPATH")
    env = dict(environ)
    env["PYTHONPATH"] = os.pathsep.join([str(folder), *([original] if original else [])])
    env[BOOTSTRAP_ENV] = json.dumps(
        {
            "folder": str(folder),
            "pythonpath": original,
            "base": previous["base"] if previous else str(running_root),
        }
    )
    return [sys.executable, "-P", "-m", "edge_agent", *argv], env


def bootstrap(argv: list[str]) -> None:
    """Re-execute into the installed version if there is one to switch to; else return."""
    running_root = Path(__file__).resolve().parent.parent
    planned = plan(argv, os.environ, running_root)
    if planned is not None:
        command, env = planned
        os.execve(sys.executable, command, env)  # noqa: S606 (our own interpreter)
