"""The application supervisor: makes the appliance run what ``desired.applications`` says.

``apply()`` records the desired instances in ``<data>/apps/state.json`` and starts, per
instance, one task that converges it: install (download, verify, stage), start, and report;
or stop and remove an instance that left the list. A newer generation of an instance cancels
the install still running for an older one. Reapplying a generation changes nothing; a new
generation that only changes PAUSE/RESUME signals reaches the camera nodes without a redeploy.

Every state change is reported as an ``applications`` report (``ApplicationReport``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import ssl
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from devicelink.apps import ApplicationReport, ApplicationSpec, NodeReport, spec_or_invalid
from devicelink.auth import sign_request
from devicelink.status import DeviceReportedStatus as Status
from edge_agent.apps.applogs import AppLogs
from edge_agent.apps.assets import AssetCache
from edge_agent.apps.entry import LaunchError
from edge_agent.apps.hdmi import Hdmi
from edge_agent.apps.images import ImageCache
from edge_agent.apps.instance import Instance, signals_only
from edge_agent.apps.metrics import AppMetrics
from edge_agent.apps.options import AppOptions
from edge_agent.apps.sandbox import SandboxSupport, probe_support
from edge_agent.apps.spawn import kill_leftovers
from edge_agent.apps.staging import IMAGE_MARK, InstallError
from edge_agent.config import AgentPaths, read_json, write_json

logger = logging.getLogger("edge_agent.apps")
INSTANCE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
RESERVED = {"assets", "images"}
Report = Callable[[dict[str, Any]], object]  # queues the report (what it returns is unused)


class Supervisor:
    def __init__(
        self,
        paths: AgentPaths,
        key: Ed25519PrivateKey,
        device_id: str,
        console_url: str,
        ssl_context: ssl.SSLContext | None,
        report: Report,
        *,
        options: AppOptions | None = None,
        support: SandboxSupport | None = None,
        app_logs: AppLogs | None = None,
        hdmi: Hdmi | None = None,
    ) -> None:
        self.folder = paths.apps
        self.hdmi = hdmi  # the HDMI output: instances with an output node claim it
        self.app_logs = app_logs
        # The nodes' metrics, for the heartbeats: the log shipper's (it counts the code nodes'
        # errors as it reads their output) or the supervisor's own.
        self.figures = app_logs.metrics if app_logs is not None else AppMetrics()
        self.report = report
        self.options = options or AppOptions()
        self._support = support
        self.cache = AssetCache(
            self.folder / "assets",
            console_url,
            lambda path: sign_request(key, device_id, "GET", path),
            ssl_context,
        )
        self.images = ImageCache(
            self.folder / "images",
            budget_bytes=int(self.options.image_cache_gib * 1024**3),
            max_image_bytes=int(self.options.max_image_gib * 1024**3),
        )
        self.images.set_in_use(self._images_in_use)
        self.specs: dict[str, ApplicationSpec] = {}  # desired, by instance id
        # Instances state.json knows whose secrets it does not hold: kept (folders, storage)
        # until the console's desired state says what to do with them.
        self.awaiting_secrets: set[str] = set()
        self.instances: dict[str, Instance] = {}
        self.last: dict[str, dict[str, Any]] = {}  # the last report of each instance
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._kinds: dict[str, str] = {}  # what the last scheduled task does: converge, remove
        self._closed = False

    @property
    def state_path(self) -> Path:
        return self.folder / "state.json"

    @property
    def support(self) -> SandboxSupport:
        if self._support is None:
            self._support = probe_support()
        return self._support

    # --- the desired state --------------------------------------------------------------------
    async def apply_documents(self, documents: Sequence[object]) -> None:
        """``desired.applications`` as it came: a spec that does not validate is INSTALL_ERROR."""
        if self.revoked_path.exists():  # the console knows this appliance again
            self.revoked_path.unlink(missing_ok=True)
        specs = []
        for entry in map(spec_or_invalid, documents):
            if isinstance(entry, ApplicationSpec):
                specs.append(entry)
            elif iid := entry.application_instance_id:
                self._emit(
                    iid, entry.generation, Status.INSTALL_ERROR,
                    f"The application's specification is invalid: {entry.where}: {entry.error}",
                )  # fmt: skip
                if iid in self.specs:
                    specs.append(self.specs[iid])  # keep what runs; do not remove it
            else:
                logger.error("Ignored an application without an instance id: %s", entry.where)
        await self.apply(specs)

    async def apply(self, specs: list[ApplicationSpec], *, restoring: bool = False) -> None:
        """Converge towards ``specs`` (returns once the work is scheduled; see ``settle()``)."""
        wanted: dict[str, ApplicationSpec] = {}
        for spec in specs:
            iid = spec.application_instance_id
            if not INSTANCE_ID.match(iid) or iid in RESERVED:
                self._emit(iid[:200], spec.generation, Status.INSTALL_ERROR,
                           "The application instance id cannot be used on the device.")  # fmt: skip
                continue
            wanted[iid] = spec
        removed = [iid for iid in self.specs if iid not in wanted]
        if not restoring:
            # The console's word on the instances that waited for their secrets.
            removed += [iid for iid in self.awaiting_secrets if iid not in wanted]
            self.awaiting_secrets.clear()
        changed = []
        for iid, spec in wanted.items():
            current = self.specs.get(iid)
            if current is not None and spec.generation <= current.generation:
                continue  # applied (or applying) already; an older generation is stale
            self.specs[iid] = spec
            changed.append(iid)
        for iid in removed:
            self.specs.pop(iid, None)
        self._save()
        for iid in changed:
            self._schedule(iid, self._converge(self.specs[iid]), "converge")
        for iid in removed:
            self._schedule(iid, self._remove(iid), "remove")

    @property
    def revoked_path(self) -> Path:
        return self.folder / "revoked"

    async def revoked(self, reason: str) -> None:
        """The console deleted this appliance or revoked its credentials: stop every application
        and start none again, also after an agent restart, until the console sends a desired
        state again (or the appliance is reset). Folders and storage stay."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await asyncio.gather(*(i.stop() for i in self.instances.values()), return_exceptions=True)
        count = len(self.specs)
        self.specs.clear()
        self.awaiting_secrets.clear()
        self._save()
        try:
            write_json(self.revoked_path, {"reason": reason}, mode=0o600)
        except OSError as exc:
            logger.warning("The revocation could not be recorded: %s", exc)
        logger.warning(
            "Stopped %d application(s): this appliance was deleted from the console or its "
            "credentials were revoked. They are not started again.", count,
        )  # fmt: skip

    async def restore(self) -> None:
        """After an agent start: restart the instances of state.json, remove leftover folders
        (neither after a revocation: see ``revoked()``)."""
        if self.revoked_path.exists():
            logger.warning(
                "No application is started: the console deleted this appliance or revoked its "
                "credentials (%s). Run 'python -m edge_agent reset --full' and set it up again.",
                self.revoked_path,
            )
            return
        if self.folder.is_dir():
            for run_dir in self.folder.glob("*/run"):
                if found := await asyncio.to_thread(kill_leftovers, run_dir):
                    logger.warning(
                        "Ended %d application process(es) that a previous agent left running.",
                        found,
                    )
        document = read_json(self.state_path, {}) or {}
        specs = []
        for iid, raw in (document.get("instances") or {}).items():
            if raw.pop("secrets_withheld", False):
                # Its secrets are not on disk; the console re-sends the desired state after
                # every agent start (the agent says it applied nothing yet).
                self.awaiting_secrets.add(iid)
                continue
            try:
                specs.append(ApplicationSpec.model_validate(raw))
            except ValidationError:
                logger.error("Ignored an unreadable application in %s.", self.state_path)
        await self.apply(specs, restoring=True)
        if self.folder.is_dir():
            for folder in sorted(self.folder.iterdir()):
                iid = folder.name
                known = (
                    iid in self.specs
                    or iid in self._tasks
                    or iid in RESERVED
                    or iid in self.awaiting_secrets
                )
                if folder.is_dir() and INSTANCE_ID.match(iid) and not known:
                    self._schedule(iid, self._remove(iid), "remove")

    async def settle(self, timeout: float | None = None) -> None:
        """Wait until no instance has work in progress (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            while pending := [t for t in self._tasks.values() if not t.done()]:
                await asyncio.wait(pending)

    async def close(self) -> None:
        """Agent shutdown: cancel installs, stop every node process; files and state stay."""
        self._closed = True
        self.cache.abort()  # a download in a worker thread would hold up the agent's exit
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await asyncio.gather(*(i.stop() for i in self.instances.values()), return_exceptions=True)

    # --- per instance -------------------------------------------------------------------------
    def _schedule(self, iid: str, work: Coroutine[Any, Any, None], kind: str) -> None:
        """Run ``work`` (a ``converge`` or a ``remove``) after the work scheduled before it.

        A converge still in progress is cancelled (its generation is outdated); a removal is
        never cancelled halfway, since it may be deleting the folder a new install would use.
        """
        if self._closed:
            work.close()
            return
        previous = self._tasks.get(iid)
        cancel = self._kinds.get(iid) == "converge"

        async def run() -> None:
            try:
                if previous is not None and not previous.done():
                    if cancel:
                        previous.cancel()
                    # asyncio.wait, not gather: cancelling this task must not cancel that one.
                    await asyncio.wait({previous})
            except asyncio.CancelledError:
                work.close()
                raise
            await work

        self._tasks[iid] = asyncio.create_task(run(), name=f"app-{iid}")
        self._kinds[iid] = kind

    async def _converge(self, spec: ApplicationSpec) -> None:
        iid, generation = spec.application_instance_id, spec.generation
        instance = self.instances.get(iid)
        running = instance.spec if instance is not None else None
        if instance is not None and running is not None and signals_only(running, spec):
            instance.update(spec)  # PAUSE/RESUME reach the camera nodes without a redeploy
            self._emit(iid, generation, Status.RUNNING)
            return
        if instance is None:
            support = await asyncio.to_thread(lambda: self.support)  # probes bwrap the 1st time
            instance = Instance(
                self.folder / iid, self.cache, self.options, support,
                lambda: self._nodes_changed(iid), hdmi=self.hdmi, app_logs=self.app_logs,
                figures=self.figures, images=self.images,
            )  # fmt: skip
            self.instances[iid] = instance
        self._emit(iid, generation, Status.INSTALL_IN_PROGRESS)
        try:
            staged = await instance.install(spec)
        except InstallError as exc:
            return self._failed(iid, generation, Status.INSTALL_ERROR, str(exc))
        except Exception as exc:  # a bug or a disk problem must still end in a report
            logger.exception("Installing application instance %s failed.", iid)
            message = f"installing failed: {type(exc).__name__}: {exc}"
            return self._failed(iid, generation, Status.INSTALL_ERROR, message)
        self._emit(iid, generation, Status.STARTING)
        try:
            await instance.stop()  # the generation that ran until now
            await instance.start(spec, staged)
        except LaunchError as exc:
            return self._failed(iid, generation, Status.LAUNCH_ERROR, str(exc))
        except Exception as exc:
            logger.exception("Starting application instance %s failed.", iid)
            message = f"starting failed: {type(exc).__name__}: {exc}"
            return self._failed(iid, generation, Status.LAUNCH_ERROR, message)
        self._emit(iid, generation, Status.RUNNING)
        logger.info("Application %s (generation %d) runs.", spec.name, generation)
        await asyncio.to_thread(instance.drop_other_generations, generation)

    def _failed(self, iid: str, generation: int, status: Status, message: str) -> None:
        logger.error("Application instance %s: %s: %s", iid, status, message)
        self._emit(iid, generation, status, message)

    async def _remove(self, iid: str) -> None:
        generation = int(self.last.get(iid, {}).get("generation", 0))
        self._emit(iid, generation, Status.REMOVAL_IN_PROGRESS)
        instance = self.instances.pop(iid, None)
        try:
            if instance is not None:
                await instance.idle()
                await instance.stop()
            await asyncio.to_thread(shutil.rmtree, self.folder / iid)
        except FileNotFoundError:
            pass
        except Exception as exc:
            message = f"removing it failed: {exc}"
            return self._failed(iid, generation, Status.REMOVAL_FAILED, message)
        self._emit(iid, generation, Status.STOPPED)
        logger.info("Application instance %s was removed.", iid)
        self.last.pop(iid, None)
        await asyncio.to_thread(self.images.collect)

    def _images_in_use(self) -> set[str]:
        """The images the staged generations of every instance on disk run in."""
        return {
            path.read_text().strip()
            for path in self.folder.glob(f"*/gen-*/*/{IMAGE_MARK}")
            if path.is_file()
        }

    def metrics(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Per running instance, per node, its latest figures (sent with heartbeats)."""
        return {
            iid: figures
            for iid, instance in list(self.instances.items())
            if (figures := instance.metrics())
        }

    # --- state and reports --------------------------------------------------------------------
    def _save(self) -> None:
        # Secrets (the runtime role, camera credentials) are not written to disk: an instance
        # that has some waits after an agent start until the console sends them again.
        document = {"instances": {i: without_secrets(s) for i, s in self.specs.items()}}
        try:
            write_json(self.state_path, document, mode=0o600)
        except OSError as exc:
            # A full disk must not stop the applications from converging (an install then
            # fails with its own reason); only a restart of the agent would miss this change.
            logger.warning("The applications' state could not be saved: %s", exc)

    def _nodes_changed(self, iid: str) -> None:
        last = self.last.get(iid)
        if last is not None and last["status"] == Status.RUNNING:
            self._emit(iid, last["generation"], Status.RUNNING)

    def reannounce(self) -> None:
        """Report every instance's state again (after a reconnection): the console marks
        what runs on an appliance it lost as of unknown health until it hears again."""
        for iid, body in list(self.last.items()):
            try:
                self.report(body)
            except Exception:
                logger.exception("The application report for %s could not be queued.", iid)

    def _emit(self, iid: str, generation: int, status: Status, message: str = "") -> None:
        instance = self.instances.get(iid)
        nodes = []
        if instance is not None and status == Status.RUNNING:
            nodes = [NodeReport(name=n, status=s, message=m[:2000])
                     for n, (s, m) in sorted(instance.nodes.items())]  # fmt: skip
            if not message:
                errors = [f"{n.name}: {n.message}" for n in nodes if n.status == "ERROR"]
                message = "; ".join(errors)
        body = ApplicationReport(
            application_instance_id=iid, generation=max(generation, 0), status=status,
            message=message[:2000], nodes=nodes,
        ).model_dump(mode="json")  # fmt: skip
        if self.last.get(iid) == body:
            return
        self.last[iid] = body
        try:
            self.report(body)
        except Exception:
            logger.exception("The application report for %s could not be queued.", iid)


def without_secrets(spec: ApplicationSpec) -> dict[str, Any]:
    """The spec as state.json keeps it: no camera credentials, no runtime role values."""
    document = spec.model_dump()
    withheld = bool(document.get("environment"))
    document["environment"] = {}
    for node in document["nodes"]:
        stream = node.get("stream")
        if stream and (stream.get("username") or stream.get("password")):
            stream["username"] = stream["password"] = ""
            withheld = True
    document["secrets_withheld"] = withheld
    return document
