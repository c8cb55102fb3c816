"""One application instance on the appliance: its folder, its staged generations, and the node
runners and port forwarders of the generation that runs.

``<data>/apps/<instance_id>/``
    ``gen-<n>/<node>/``   the staged code (``panorama/``, ``descriptor.json``) or assets
    ``storage/``          ``/opt/aws/panorama/storage``, kept across restarts and redeploys
    ``logs/code/``        ``/opt/aws/panorama/logs``
    ``logs/console_output.log``  the code nodes' stdout and stderr

While it runs, its edge runtime lives in a runtime folder in shared memory (``graph.py``): the
rings and sockets of its camera, model, display and code node processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devicelink.apps import ApplicationSpec, NodeSpec
from edge_agent.apps import cgroups, graph, launch, staging
from edge_agent.apps.assets import AssetCache, AssetError
from edge_agent.apps.entry import LaunchError
from edge_agent.apps.forward import PortForwarder
from edge_agent.apps.graph import PlanError, RuntimePlan
from edge_agent.apps.images import ImageCache
from edge_agent.apps.metrics import AppMetrics
from edge_agent.apps.options import AppOptions
from edge_agent.apps.process import CodeNode, ConsoleLog
from edge_agent.apps.runtime_node import RuntimeNode
from edge_agent.apps.sandbox import SandboxSupport
from edge_agent.apps.spawn import LaunchFailed
from edge_agent.apps.staging import SAFE_NAME, STAGED_MARK, InstallError
from edge_agent.apps.stalls import StallWatch
from edge_agent.runtime.ring import FrameRing, RingError

logger = logging.getLogger("edge_agent.apps")
LOG_STREAMS = {"camera": "stream", "model": "model", "display": "display"}


def starts_paused(node: NodeSpec) -> bool:
    """onAppStart nodes run unless paused; onSignal (and onDemand) nodes wait for RESUME."""
    if node.signal is not None:
        return node.signal == "PAUSE"
    return node.launch != "onAppStart"


def deploy_key(spec: ApplicationSpec) -> str:
    """Everything in a spec that needs a redeploy: all but the generation and PAUSE/RESUME."""
    document = spec.model_dump(exclude={"generation"})
    for node in document["nodes"]:
        node.pop("signal", None)
    return json.dumps(document, sort_keys=True)


def signals_only(running: ApplicationSpec, new: ApplicationSpec) -> bool:
    """Whether ``new`` differs from what runs only in PAUSE/RESUME signals (a generation with
    no change at all is a redeploy: the operator asked for the application to start again)."""
    signals = [{n.name: n.signal for n in s.nodes} for s in (running, new)]
    return signals[0] != signals[1] and deploy_key(running) == deploy_key(new)


class Instance:
    def __init__(
        self,
        folder: Path,
        cache: AssetCache,
        options: AppOptions,
        support: SandboxSupport,
        on_change: Callable[[], None],
        *,
        hdmi: Any = None,
        app_logs: Any = None,
        figures: AppMetrics | None = None,
        images: ImageCache | None = None,
    ) -> None:
        self.folder = folder
        # Shared by the supervisor's instances; one of its own for an instance made alone.
        self.images = images or ImageCache(
            folder.parent / "images", int(options.image_cache_gib * 1024**3),
            int(options.max_image_gib * 1024**3),
        )  # fmt: skip
        self.hdmi = hdmi  # edge_agent.apps.hdmi.Hdmi: who shows on the appliance's output
        self.app_logs = app_logs  # edge_agent.apps.applogs.AppLogs: ships the nodes' logs
        self.cache = cache
        self.options = options
        self.support = support
        self.on_change = on_change
        self.spec: ApplicationSpec | None = None  # the spec that runs (None: nothing runs)
        self.nodes: dict[str, tuple[str, str]] = {}  # name → (NodeInstanceStatus, message)
        self._code: dict[str, CodeNode] = {}
        self._runtime: dict[str, RuntimeNode] = {}  # camera, model and display nodes
        self._runtime_plan: RuntimePlan | None = None
        self._paused: set[str] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        # The nodes' metrics (shared with the supervisor, which sends them with heartbeats).
        self.figures = figures if figures is not None else AppMetrics()
        self._forwarders: list[PortForwarder] = []
        self._slot: cgroups.Slot | None = None
        self._log: ConsoleLog | None = None
        self._busy: asyncio.Future[Any] | None = None
        self._stalls = StallWatch(options.stall_s, self._stalled, self._unstalled)
        self._before_stall: dict[str, tuple[str, str]] = {}  # a stalled camera's own status

    @property
    def storage(self) -> Path:
        return self.folder / "storage"

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    def code_node(self, name: str) -> CodeNode | None:
        return self._code.get(name)

    # --- installing ---------------------------------------------------------------------------
    async def install(self, spec: ApplicationSpec) -> Path:
        """Download and verify every asset and stage generation ``spec.generation``."""
        for node in spec.nodes:
            if not SAFE_NAME.match(node.name) or node.name in (".", ".."):
                raise InstallError(f"{node.name!r}: the node name cannot be used on the device")
        await self.idle()
        target = self.folder / f"gen-{spec.generation}"
        if (target / STAGED_MARK).is_file():
            return target  # staged before a restart of the agent
        files: dict[str, list[tuple[str, Path]]] = {}
        for node in spec.nodes:
            files[node.name] = []
            for asset in node.assets:
                if node.kind == "code" and self.images.has(asset.sha256):
                    # Unpacked already; its archive was dropped once it was.
                    files[node.name].append((asset.name, self.images.rootfs(asset.sha256)))
                    continue
                try:
                    path = await self._in_thread(
                        self.cache.fetch, asset.sha256, asset.size, asset.path, asset.name
                    )
                except AssetError as exc:
                    raise InstallError(f"{node.name}: {exc}") from None
                files[node.name].append((asset.name, path))
        await self._in_thread(staging.stage, spec, files, target, self.images, self.cache)
        return target

    async def idle(self) -> None:
        """Wait for the thread of a cancelled install, which may still write in the folder."""
        if self._busy is not None and not self._busy.done():
            await asyncio.wait({self._busy})

    async def _in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run blocking work in a thread; a cancellation leaves it running, and remembered."""
        self._busy = asyncio.ensure_future(asyncio.to_thread(function, *args))
        return await asyncio.shield(self._busy)

    # --- starting -----------------------------------------------------------------------------
    async def start(self, spec: ApplicationSpec, staged: Path) -> None:
        """Start the nodes of a staged generation; LaunchError (with nothing left running)."""
        self.spec = spec
        self.nodes = {}
        for folder in (self.storage, self.logs / "code", self.folder / "run"):
            folder.mkdir(parents=True, exist_ok=True)
        sandboxed = self.options.sandbox is not False and self.support.available
        # Without a sandbox a root agent still gives each node a network namespace of its own.
        own_netns = not sandboxed and self.options.own_netns is not False
        own_netns = own_netns and self.support.can_enter_netns and self.support.can_unshare_net
        self._warn(spec, sandboxed, own_netns)
        descriptors = json.loads((staged / STAGED_MARK).read_text())
        code_nodes = [n for n in spec.nodes if n.kind == "code"]
        self._log = ConsoleLog(self.logs / "console_output.log", self.options.log_max_bytes)
        try:
            runtime = await asyncio.to_thread(self._prepare_runtime, spec, staged)
            # Model servers first: code nodes call them from their first frame on.
            await self._start_runtime("model", list(runtime.models), self.options.model_start_s)
            await self._start_runtime("display", list(runtime.displays), 30)
            if runtime.displays and self.hdmi is not None:
                first = next(iter(runtime.displays.values()))
                self.hdmi.claim(spec.application_instance_id, runtime.folder / first.ring)
            by_name = {n.name: n for n in spec.nodes}
            cameras = [n for n in runtime.cameras if not starts_paused(by_name[n])]
            for name in runtime.cameras:
                if name not in cameras:
                    self._paused.add(name)
                    self._mark_paused(name, True)
                    self._set_node(name, "PAUSED", "")
            # Cameras report their first status (frames, or why not) within their timeout.
            await self._start_runtime("camera", cameras, self.options.camera_timeout_s + 5)
            # The code nodes' resource limits: one control group for all of them.
            self._slot = await asyncio.to_thread(
                cgroups.slot_for, spec.application_instance_id, spec.limits.memory_mib,
                spec.limits.cpus, self.options.cgroup_hierarchy(),
            )  # fmt: skip
            place = launch.Place(
                folder=self.folder, options=self.options, images=self.images,
                runtime=runtime.folder, cpus=None,
            )  # fmt: skip
            for node in code_nodes:
                plan = launch.code_plan(
                    place, spec, node, staged / node.name, descriptors[node.name], sandboxed
                )
                plan.own_netns = own_netns
                plan.cgroup = self._slot
                runner = CodeNode(
                    node.name, plan, self._log, self._set_node, self.support,
                    self.options.policy, prefix=f"[{node.name}] " if len(code_nodes) > 1 else "",
                    on_output=functools.partial(self._code_output, node.name),
                    on_exit=functools.partial(self._code_exited, node.name),
                )  # fmt: skip
                self._code[node.name] = runner
                try:
                    await runner.start()
                except LaunchFailed as exc:
                    raise LaunchError(f"{node.name}: {exc}") from None
                if self.app_logs is not None:
                    self.app_logs.follow(spec.application_instance_id, node.name, plan.logs)
            await self._start_forwarders(spec, isolated=sandboxed or own_netns)
        except BaseException:
            await self.stop()
            raise

    def _prepare_runtime(self, spec: ApplicationSpec, staged: Path) -> RuntimePlan:
        folder = graph.runtime_folder(self.folder, spec.application_instance_id)
        try:
            runtime = graph.plan(
                spec, staged, folder, call_timeout_s=self.options.call_timeout_s,
                model_threads=self.options.model_threads,
                camera_timeout_s=self.options.camera_timeout_s,
                display_size=self.options.display_size,
            )  # fmt: skip
        except PlanError as exc:
            raise LaunchError(str(exc)) from None
        graph.fresh_folder(folder)
        runtime.create_rings()
        runtime.write_configs()
        self._runtime_plan = runtime
        return runtime

    async def _start_runtime(self, kind: str, names: list[str], wait_s: float) -> None:
        """Start runtime nodes of one kind and wait (at most ``wait_s``) for their first status;
        a model or display node that cannot start at all is a launch error."""
        started = [self._runtime_node(kind, name) for name in names]
        for node in started:
            await node.start()
        waits = [asyncio.create_task(n.first_status.wait()) for n in started]
        if waits:
            await asyncio.wait(waits, timeout=wait_s)
        for node, wait in zip(started, waits, strict=True):
            wait.cancel()
            status, message = self.nodes.get(node.name, ("", ""))
            if kind != "camera" and status != "RUNNING":
                raise LaunchError(f"{node.name}: {message or f'the {kind} node did not start'}")

    def _runtime_node(self, kind: str, name: str) -> RuntimeNode:
        assert self._runtime_plan is not None
        stdin = b""
        if kind == "camera":
            stdin = self._runtime_plan.cameras[name][1].model_dump_json().encode()
        node = RuntimeNode(
            name, kind, self._runtime_plan.config_path(kind, name), on_status=self._set_node,
            on_log=functools.partial(self._runtime_log, kind),
            on_metrics=self._node_metrics, on_restart=self._node_restarted,
            policy=self.options.policy,
            pid_file=self.folder / "run" / f"node-{name}.pid", stdin=stdin,
        )  # fmt: skip
        self._runtime[name] = node
        return node

    def _runtime_log(self, kind: str, node: str, level: str, message: str) -> None:
        if self.app_logs is not None and self.spec is not None:
            stream = LOG_STREAMS[kind]
            self.app_logs.line(self.spec.application_instance_id, node, stream, level, message)

    def _code_output(self, node: str, line: str, stderr: bool) -> None:
        if self.spec is None:
            return
        iid = self.spec.application_instance_id
        if self.app_logs is not None:
            self.app_logs.console_output(iid, node, line, stderr=stderr)  # counts its errors too
        elif stderr and "Traceback (most recent call last)" in line:
            self.figures.error(iid, node)

    def _code_exited(self, node: str) -> None:
        # A crash is an application error, with or without a traceback on its way out.
        if self.spec is not None:
            self.figures.exit_error(self.spec.application_instance_id, node)

    def _node_metrics(self, node: str, values: dict[str, Any]) -> None:
        if self.spec is not None:
            self.figures.add(self.spec.application_instance_id, node, values)
            runner = self._runtime.get(node)
            if runner is not None and runner.kind == "camera":
                self._stalls.metrics(node, values)

    def _node_restarted(self, node: str) -> None:
        self._stalls.reset(node)
        if self.spec is not None:
            self.figures.restarted(self.spec.application_instance_id, node)

    def _stalled(self, camera: str, reason: str) -> None:
        self._before_stall[camera] = self.nodes.get(camera, ("RUNNING", ""))
        logger.warning("Camera node %s: %s", camera, reason)
        self._set_node(camera, "ERROR", reason, stall=True)

    def _unstalled(self, camera: str) -> None:
        before = self._before_stall.pop(camera, None)
        if before is not None:
            logger.info("Camera node %s: the application takes its frames again.", camera)
            self._set_node(camera, *before, stall=True)

    def metrics(self) -> dict[str, dict[str, Any]]:
        """Every node's figures; code nodes: restarts and errors (tracebacks, ERROR lines)."""
        if self.spec is None:
            return {}
        iid = self.spec.application_instance_id
        for name, runner in self._code.items():
            self.figures.add(iid, name, {"restarts": runner.restarts})
        return self.figures.snapshot().get(iid, {})

    def _warn(self, spec: ApplicationSpec, sandboxed: bool, own_netns: bool) -> None:
        if not any(n.kind == "code" for n in spec.nodes):
            return
        if not sandboxed:
            logger.warning(
                "bubblewrap is not available: application %s runs without a sandbox.", spec.name
            )
        if not (sandboxed or own_netns):
            return
        if self.support.pasta is None:
            logger.warning(
                "pasta (Debian package passt) is not installed: application %s has no outbound "
                "network access.", spec.name,
            )  # fmt: skip
        if not self.support.can_enter_netns and spec.network_routing_rules:
            logger.warning(
                "The agent does not run as root: the inbound ports of application %s cannot be "
                "forwarded into its sandbox.", spec.name,
            )  # fmt: skip

    async def _start_forwarders(self, spec: ApplicationSpec, *, isolated: bool) -> None:
        """One forwarder per rule; ``isolated``: the nodes listen in their own namespaces."""
        for rule in spec.network_routing_rules:
            runner = self._code.get(rule.node)
            if runner is None:
                logger.warning(
                    "Application %s: the port rule for %s names no code node; ignored.",
                    spec.name, rule.node,
                )  # fmt: skip
                continue
            if not isolated and rule.host_port == rule.container_port:
                continue  # on the host's network, the application's own listener is that port
            forwarder = PortForwarder(
                rule.node, rule.host_port, rule.container_port,
                runner.netns_pid if isolated else None, host=self.options.forward_host,
            )  # fmt: skip
            try:
                await forwarder.start(wait_s=self.options.port_wait_s)
            except OSError as exc:
                raise LaunchError(
                    f"{rule.node}: host port {rule.host_port} cannot be opened: "
                    f"{exc.strerror or exc}"
                ) from None
            self._forwarders.append(forwarder)

    # --- while running ------------------------------------------------------------------------
    def update(self, spec: ApplicationSpec) -> None:
        """A new generation that changes only PAUSE/RESUME signals: a paused camera node's
        process stops (its consumers keep their last frame), a resumed one starts again."""
        self.spec = spec
        cameras = self._runtime_plan.cameras if self._runtime_plan is not None else {}
        for node in spec.nodes:
            if node.name not in cameras:
                continue
            if node.signal == "PAUSE" and node.name not in self._paused:
                self._paused.add(node.name)
                logger.info("Camera node %s paused.", node.name)
                self._mark_paused(node.name, True)
                runner = self._runtime.pop(node.name, None)
                self._background(self._pause(node.name, runner))
            elif node.signal == "RESUME" and node.name in self._paused:
                self._paused.discard(node.name)
                logger.info("Camera node %s resumed.", node.name)
                self._mark_paused(node.name, False)
                self._background(self._runtime_node("camera", node.name).start())

    def _mark_paused(self, camera: str, paused: bool) -> None:
        """Flag the camera's ring, so that its consumers leave the stream out of their batches
        and the displays take its tile off, rather than go on with its last frame."""
        plan = self._runtime_plan
        if plan is None or camera not in plan.cameras:
            return
        try:
            ring = FrameRing.open(plan.folder / plan.cameras[camera][0].ring)
        except RingError as exc:
            logger.warning("Camera node %s: cannot flag its ring: %s", camera, exc)
            return
        ring.set_paused(paused)
        ring.close()

    async def _pause(self, name: str, runner: RuntimeNode | None) -> None:
        if runner is not None:
            await runner.stop()
        if name in self._paused:  # a RESUME may have come while it stopped
            self._set_node(name, "PAUSED", "")

    def _background(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _set_node(self, name: str, status: str, message: str, *, stall: bool = False) -> None:
        if not stall and name in self._before_stall:
            # The node's own news (its camera went away, say) wins over the stall.
            self._before_stall.pop(name)
            self._stalls.reset(name)
        if self.nodes.get(name) != (status, message):
            self.nodes[name] = (status, message)
            self.on_change()

    # --- stopping -----------------------------------------------------------------------------
    async def stop(self) -> None:
        """Stop every node and forwarder of the generation that runs (files stay)."""
        for forwarder in self._forwarders:
            await forwarder.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        iid = self.spec.application_instance_id if self.spec is not None else ""
        if self.app_logs is not None and iid:
            self.app_logs.unfollow(iid)
        # Consumers first: a code node never sees its camera or model vanish under it.
        await asyncio.gather(*(runner.stop() for runner in self._code.values()))
        order = ("camera", "display", "model")
        for kind in order:
            await asyncio.gather(
                *(node.stop() for node in self._runtime.values() if node.kind == kind)
            )
        if self.hdmi is not None and iid:
            self.hdmi.release(iid)
        self._forwarders, self._code, self._runtime = [], {}, {}
        self._paused = set()
        self._stalls.clear()
        self._before_stall.clear()
        if self._runtime_plan is not None:
            shutil.rmtree(self._runtime_plan.folder, ignore_errors=True)
            self._runtime_plan = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._slot is not None:
            self._slot.remove()
            self._slot = None
        if iid:
            self.figures.drop(iid)
        self.spec = None

    def drop_other_generations(self, keep: int) -> None:
        for folder in self.folder.glob("*gen-*"):
            if folder.name != f"gen-{keep}":
                with contextlib.suppress(OSError):
                    shutil.rmtree(folder)
