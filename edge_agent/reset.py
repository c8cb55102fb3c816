"""``python -m edge_agent reset``: reinstall the current software, or wipe the appliance.

Both refuse while an agent runs on the data directory: they hold its lock while they work, so
an agent cannot start half-way through either.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from devicelink.releases import ReleaseError
from edge_agent.config import AgentLock, AgentPaths
from edge_agent.identity import load_identity
from edge_agent.software import Software

EXIT_REFUSED = 2


def _refuse_running(paths: AgentPaths) -> None:
    print(
        f"An agent is running on {paths.data_dir}; stop it first (for example "
        "'systemctl stop vantage-agent'), then reset again."
    )


def soft_reset(paths: AgentPaths) -> int:
    """Reinstall the current version from its kept, re-verified bundle."""
    lock = AgentLock(paths.lock)
    if paths.data_dir.exists() and not lock.acquire():
        _refuse_running(paths)
        return EXIT_REFUSED
    try:
        software = Software(paths)
        if software.installed_version() is None and not paths.current.exists():
            print(
                f"The agent runs its built-in version {software.running_version} (from "
                f"{Path(__file__).resolve().parent}); there is nothing to reinstall."
            )
            return 0
        identity = load_identity(paths)
        try:
            version = software.reinstall(identity.release_public_key if identity else None)
        except ReleaseError as exc:
            print(f"Cannot reinstall: {exc}")
            return 1
        print(f"Reinstalled software {version} from {software.bundle_file(version)}.")
        return 0
    finally:
        lock.release()


def full_reset(paths: AgentPaths) -> int:
    """Remove everything under the data directory: credentials, apps, logs, outbox, config."""
    if not paths.data_dir.exists():
        print(f"{paths.data_dir} does not exist; nothing to remove.")
        return 0
    lock = AgentLock(paths.lock)
    if not lock.acquire():
        _refuse_running(paths)
        return EXIT_REFUSED
    try:
        removed = []
        for entry in sorted(paths.data_dir.iterdir()):
            if entry == paths.lock:
                continue  # we hold it; removed last
            folder = entry.is_dir() and not entry.is_symlink()
            if folder:
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
            print(f"removed {entry}{'/' if folder else ''}")
        print(
            f"Removed {len(removed)} items from {paths.data_dir}. The appliance is not "
            "provisioned any more; put a new configuration archive on its USB drive."
        )
        return 0
    finally:
        paths.lock.unlink(missing_ok=True)
        lock.release()
