"""Jobs from the desired state: REBOOT and OTA (docs/protocol.md, "Jobs on the appliance").

The console keeps sending a job until the agent reports it finished, so jobs are idempotent:
finished job ids are remembered in ``<data>/state.json``, and so is the job that is restarting
the agent, which is reported COMPLETED (or FAILED) when the agent is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from devicelink.messages import Desired, JobSpec
from devicelink.releases import (
    MAX_BUNDLE_BYTES,
    ReleaseError,
    check_update_allowed,
    inspect_bundle,
    verify_release,
)
from edge_agent.config import AgentPaths, read_json, write_json
from edge_agent.identity import Identity
from edge_agent.reports import FlushingReporter as Reporter
from edge_agent.software import Restarter, RestartError, Software

logger = logging.getLogger("edge_agent.jobs")
FINISHED_KEPT = 500
Fetch = Callable[[str], Awaitable[bytes]]


class JobFailed(Exception):
    pass


class AgentState:
    """``<data>/state.json``: applied desired version, finished jobs, the restarting job."""

    def __init__(self, paths: AgentPaths) -> None:
        self.path = paths.state
        document = read_json(self.path, {}) or {}
        self.applied_version: int = int(document.get("applied_version", 0))
        self.finished: dict[str, str] = dict(document.get("finished_jobs", {}))
        self.rebooting: dict[str, Any] | None = document.get("rebooting")

    def save(self) -> None:
        finished = list(self.finished.items())[-FINISHED_KEPT:]
        write_json(
            self.path,
            {
                "applied_version": self.applied_version,
                "finished_jobs": dict(finished),
                "rebooting": self.rebooting,
            },
        )


class JobRunner:
    def __init__(
        self,
        *,
        paths: AgentPaths,
        identity: Identity,
        software: Software,
        restarter: Restarter,
        fetch: Fetch,
        reporter: Reporter | None = None,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self.paths = paths
        self.identity = identity
        self.software = software
        self.restarter = restarter
        self.fetch = fetch
        self.flush_timeout_s = flush_timeout_s
        self.state = AgentState(paths)
        self.reporter = reporter
        self.current_job: str | None = None
        # Set once a reboot command has run and the system is stopping the agent: no further
        # job may start, and the desired state is not applied (it is re-sent after the boot).
        self.restarted = False
        self._running: set[str] = set()
        self.desired_seen = False

    def applied_version(self) -> int:
        # Until the first desired state of this process arrives, say nothing was applied: the
        # console then sends it whole, with the secrets the agent does not keep on disk.
        return self.state.applied_version if self.desired_seen else 0

    def pending_job(self) -> str | None:
        """The job in progress or restarting the agent, for ``status``."""
        if self.current_job:
            return self.current_job
        return self.state.rebooting["job_id"] if self.state.rebooting else None

    # --- after a restart ----------------------------------------------------------------------
    def resume(self) -> None:
        """Report the outcome of the job that restarted the agent (queued until the link is up)."""
        rebooting = self.state.rebooting
        if not rebooting:
            return
        job_id, job_type = rebooting["job_id"], rebooting["job_type"]
        target = rebooting.get("to_version")
        if job_type == "OTA" and target != self.software.running_version:
            # The new version did not come up (the bootstrap fell back): go back to the old one.
            self.software.switch_current(rebooting.get("previous"))
            self._status(
                job_id,
                job_type,
                "FAILED",
                f"After the restart the agent runs {self.software.running_version}, not "
                f"{target}; the previous version stays current.",
            )
        else:
            self._status(job_id, job_type, "COMPLETED")
        self.state.rebooting = None
        self.state.save()

    # --- desired state ------------------------------------------------------------------------
    async def handle_desired(self, desired: Desired) -> None:
        """Run the jobs not handled yet, then record the desired version as applied."""
        for spec in desired.jobs:
            if spec.job_id in self.state.finished or spec.job_id in self._running:
                continue
            if self.state.rebooting and self.state.rebooting.get("job_id") == spec.job_id:
                continue
            await self.run_job(spec)
            if self.restarted:
                return
        self.state.applied_version = max(self.state.applied_version, desired.version)
        try:
            self.state.save()
        except OSError as exc:
            # A full disk must not keep the applications from their desired state: the version
            # stays applied in memory, and the console sends the document again after a
            # restart that lost it.
            logger.warning("The applied desired version could not be saved: %s", exc)
        self.desired_seen = True

    async def run_job(self, spec: JobSpec) -> None:
        self._running.add(spec.job_id)
        self.current_job = spec.job_id
        try:
            if spec.job_type == "REBOOT":
                self._status(spec.job_id, "REBOOT", "IN_PROGRESS")
                await self._restart(spec, None)
            else:
                await self._ota(spec)
        except (JobFailed, ReleaseError, RestartError, OSError) as exc:
            self._finish(spec, "FAILED", str(exc))
        except Exception as exc:
            logger.exception("job %s failed unexpectedly", spec.job_id)
            self._finish(spec, "FAILED", f"The agent failed: {type(exc).__name__}: {exc}")
        finally:
            self._running.discard(spec.job_id)
            self.current_job = None

    # --- OTA ----------------------------------------------------------------------------------
    async def _ota(self, spec: JobSpec) -> None:
        version = spec.image_version
        if not spec.bundle_path:
            raise JobFailed(
                f"The console has no bundle for version {version} (was the software image "
                "deleted?)."
            )
        self._status(spec.job_id, "OTA", "DOWNLOADING", f"Downloading version {version}.")
        data = await self.fetch(spec.bundle_path)
        self._status(spec.job_id, "OTA", "VERIFYING", f"Verifying version {version}.")
        # Hashing and unpacking up to 200 MiB would stall the link's heartbeats: use a thread.
        digest = await asyncio.to_thread(self.verify, spec, data)
        self._status(spec.job_id, "OTA", "IN_PROGRESS", f"Installing version {version}.")
        previous = self.software.installed_version()
        await asyncio.to_thread(
            self.software.install, data, version, sha256=digest, signature=spec.signature
        )
        await self._restart(spec, {"to_version": version, "previous": previous})

    def verify(self, spec: JobSpec, data: bytes) -> str:
        """Check a downloaded bundle against the job; its sha256, or ReleaseError/JobFailed."""
        version = spec.image_version
        if len(data) > MAX_BUNDLE_BYTES or (spec.size and len(data) != spec.size):
            raise JobFailed(
                f"The bundle has {len(data)} bytes, not the {spec.size} the console announced."
            )
        digest = hashlib.sha256(data).hexdigest()
        if digest != spec.sha256.lower():
            raise JobFailed(
                f"The bundle's sha256 {digest} does not match the {spec.sha256} the console "
                "announced; the download was changed or damaged."
            )
        verify_release(self.identity.release_public_key, version, digest, spec.signature)
        check_update_allowed(
            self.software.running_version,
            version,
            allow_major=spec.allow_major_version_update,
        )
        info = inspect_bundle(data)
        if info.version != version:
            raise JobFailed(f"The bundle holds version {info.version}, not {version}.")
        return digest

    # --- restarting ---------------------------------------------------------------------------
    async def _restart(self, spec: JobSpec, extra: dict[str, Any] | None) -> None:
        self.state.rebooting = {"job_id": spec.job_id, "job_type": spec.job_type, **(extra or {})}
        self.state.save()
        self._status(spec.job_id, spec.job_type, "REBOOTING", "Restarting the agent.")
        if self.reporter is not None and not await self.reporter.flush(self.flush_timeout_s):
            logger.warning(
                "Restarting before the console acknowledged every report; the rest is sent "
                "after the restart."
            )
        try:
            await self.restarter.restart()
            self.restarted = True
        except RestartError:
            self.state.rebooting = None
            if extra is not None:
                self.software.switch_current(extra.get("previous"))
            raise
        # A reboot command returns once the system stops the agent; the outcome is reported
        # by resume() at the next start.

    # --- reporting ----------------------------------------------------------------------------
    def _finish(self, spec: JobSpec, status: str, reason: str = "") -> None:
        self.state.finished[spec.job_id] = status
        self.state.save()
        self._status(spec.job_id, spec.job_type, status, reason)

    def _status(self, job_id: str, job_type: str, status: str, reason: str = "") -> None:
        if status == "COMPLETED" and job_id not in self.state.finished:
            self.state.finished[job_id] = status
            self.state.save()
        stream = "ota_log" if job_type == "OTA" else "occ_log"
        level = logging.ERROR if status == "FAILED" else logging.INFO
        text = f"Job {job_id} ({job_type}): {status}" + (f": {reason}" if reason else "")
        logger.log(level, "%s", text, extra={"stream": stream})
        if self.reporter is not None:
            self.reporter.queue_report(
                "job", {"job_id": job_id, "status": status, "reason": reason[:1000]}
            )
