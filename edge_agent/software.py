"""Installed agent versions and restarting the agent.

Layout under ``<data>/software/``: ``bundles/<version>.tar.gz`` (the verified bundle, kept for
``reset``) with ``bundles/<version>.json`` (its sha256 and signature), ``<version>/`` (the
unpacked packages) and ``current`` (a file naming the version to run; replaced atomically, so
a crash leaves either the old or the new version current, never a half-written name).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shlex
import shutil
import site
import sys
from collections.abc import Mapping
from pathlib import Path

import edge_agent
from devicelink.releases import (
    ReleaseError,
    extract_bundle,
    inspect_bundle,
    parse_version,
    verify_release,
)
from edge_agent.bootstrap import BOOTSTRAP_ENV
from edge_agent.config import AgentPaths, read_json, write_atomic, write_json

logger = logging.getLogger("edge_agent.software")


class RestartError(Exception):
    pass


class Software:
    def __init__(self, paths: AgentPaths) -> None:
        self.paths = paths

    @property
    def running_version(self) -> str:
        return edge_agent.__version__

    def installed_version(self) -> str | None:
        """The version ``current`` names, if it is installed; None means the built-in one."""
        try:
            version = self.paths.current.read_text().strip()
            parse_version(version)
        except (OSError, ValueError):
            return None
        return version if (self.folder(version) / "edge_agent").is_dir() else None

    def folder(self, version: str) -> Path:
        return self.paths.software / version

    def bundle_file(self, version: str) -> Path:
        return self.paths.bundles / f"{version}.tar.gz"

    def install(self, data: bytes, version: str, *, sha256: str, signature: str) -> None:
        """Keep the (already verified) bundle, unpack it, and make it current."""
        write_atomic(self.bundle_file(version), data)
        write_json(
            self.paths.bundles / f"{version}.json",
            {"version": version, "sha256": sha256, "signature": signature},
        )
        self._unpack(data, version)
        self.switch_current(version)
        logger.info(
            "Installed software %s in %s; it is now current.", version, self.folder(version)
        )

    def _unpack(self, data: bytes, version: str) -> None:
        # Unpack next to the target and rename: a crash mid-way leaves only a .partial folder,
        # never a half-filled version folder that the bootstrap would start.
        partial = self.paths.software / f"{version}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        extract_bundle(data, partial)
        target = self.folder(version)
        if target.exists():
            old = self.paths.software / f"{version}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(partial, target)

    def switch_current(self, version: str | None) -> None:
        """Make ``version`` current; None goes back to the built-in version."""
        if version is None:
            self.paths.current.unlink(missing_ok=True)
        else:
            write_atomic(self.paths.current, f"{version}\n".encode())

    def reinstall(self, release_public_key: str | None) -> str:
        """Unpack the current version again from its kept bundle, verified again (soft reset)."""
        version = self.installed_version() or _current_name(self.paths)
        if version is None:
            raise ReleaseError("No installed version to reinstall.")
        bundle = self.bundle_file(version)
        try:
            data = bundle.read_bytes()
        except OSError:
            raise ReleaseError(f"The bundle of version {version} ({bundle}) is missing.") from None
        meta = read_json(self.paths.bundles / f"{version}.json", {}) or {}
        digest = hashlib.sha256(data).hexdigest()
        if meta.get("sha256") != digest:
            raise ReleaseError(
                f"The kept bundle of {version} has sha256 {digest}, not the "
                f"{meta.get('sha256')} it was installed with; it was changed."
            )
        if release_public_key:
            verify_release(release_public_key, version, digest, str(meta.get("signature", "")))
        info = inspect_bundle(data)
        if info.version != version:
            raise ReleaseError(f"The kept bundle holds version {info.version}, not {version}.")
        self._unpack(data, version)
        self.switch_current(version)
        return version


def _current_name(paths: AgentPaths) -> str | None:
    """What ``current`` names even if its folder is gone (a soft reset can rebuild it)."""
    try:
        version = paths.current.read_text().strip()
        parse_version(version)
        return version
    except (OSError, ValueError):
        return None


# --- restarting ------------------------------------------------------------------------------
def restart_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment the agent was started with, for a development-mode restart.

    The bootstrap's additions are undone (so the restarted process picks the version that is
    current now), and the folder of the agent first started is put on PYTHONPATH unless it is
    in site-packages anyway: ``-P`` keeps the working directory off sys.path, and a checkout
    started with ``python -m edge_agent`` from its folder is found only through it.
    """
    env = dict(environ)
    marker = env.pop(BOOTSTRAP_ENV, None)
    base = str(Path(edge_agent.__file__).resolve().parent.parent)
    if marker:
        info = json.loads(marker)
        base = info.get("base") or base
        if info.get("pythonpath"):
            env["PYTHONPATH"] = info["pythonpath"]
        else:
            env.pop("PYTHONPATH", None)
    entries = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if base not in entries and base not in site.getsitepackages():
        env["PYTHONPATH"] = os.pathsep.join([base, *entries])
    return env


def restart_command(argv: list[str]) -> list[str]:
    return [sys.executable, "-P", "-m", "edge_agent", *argv]


def exec_self(argv: list[str]) -> None:
    """Replace this process with a fresh agent: same arguments, same environment."""
    logger.info("Restarting the agent (development mode: re-executing itself).")
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.execve(sys.executable, restart_command(argv), restart_environment(os.environ))  # noqa: S606


class Restarter:
    """Restarts the appliance: the configured reboot command, else re-executes the agent."""

    def __init__(
        self,
        reboot_command: str,
        argv: list[str],
        stop_event: asyncio.Event | None = None,
        grace_s: float = 120.0,
    ) -> None:
        self.reboot_command = reboot_command
        self.argv = argv
        self.stop_event = stop_event
        self.grace_s = grace_s

    async def restart(self) -> None:
        """Does not return in development mode. With a reboot command, returns once the
        system has asked the agent to stop; RestartError if the command fails or nothing
        stops the agent within ``grace_s``."""
        if not self.reboot_command:
            exec_self(self.argv)
            return
        logger.info("Rebooting with: %s", self.reboot_command)
        process = await asyncio.create_subprocess_exec(*shlex.split(self.reboot_command))
        code = await process.wait()
        if code:
            raise RestartError(f"The reboot command {self.reboot_command!r} exited with {code}.")
        if self.stop_event is None:
            return
        try:
            await asyncio.wait_for(self.stop_event.wait(), self.grace_s)
            return
        except TimeoutError:
            pass
        raise RestartError(
            f"The reboot command {self.reboot_command!r} ran, but the agent was not stopped "
            f"within {self.grace_s:.0f} s."
        )
