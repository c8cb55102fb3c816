"""A node's OS process: start it, restart it when it crashes (with backoff, until it
crash-loops), and stop it: SIGTERM to the application, then SIGKILL once the stop timeout has
passed (``SupervisedProcess``). A code node (``CodeNode``) is started sandboxed or not, and its
output captured; the runtime's nodes (``runtime_node.RuntimeNode``) are the agent's own code.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from edge_agent.apps.cgroups import Slot
from edge_agent.apps.sandbox import SandboxSupport
from edge_agent.apps.spawn import LaunchFailed, LaunchPlan, Running, spawn

logger = logging.getLogger("edge_agent.apps.process")
StatusCallback = Callable[[str, str, str], None]  # node name, NodeInstanceStatus, message


@dataclass
class RestartPolicy:
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    # More than this many restarts within window_s is a crash loop (the fifth quick crash): the
    # node stays down (ERROR).
    max_restarts: int = 4
    window_s: float = 60.0
    stop_timeout_s: float = 10.0


async def read_lines(stream: asyncio.StreamReader | None) -> AsyncIterator[bytes]:
    """A process's output, line by line (with its newline), until it closes the stream."""
    if stream is None:
        return
    while True:
        try:
            line = await stream.readuntil(b"\n")
        except asyncio.IncompleteReadError as end:
            line = end.partial
        except asyncio.LimitOverrunError as over:
            line = await stream.read(over.consumed)  # a very long line: in parts
        if not line:
            return
        yield line


class ConsoleLog:
    """``console_output.log``: the nodes' stdout and stderr, rotated at ``max_bytes``.

    Writing never fails: the application's output must keep draining whatever happens to the
    disk, or its pipe fills and the application freezes on its next print. A line that cannot
    be written (ENOSPC, any OSError) is dropped and counted; one WARNING per ``warn_every_s``
    says how many were dropped, and writing resumes by itself once the disk takes it again.
    """

    def __init__(
        self, path: Path, max_bytes: int = 10 * 1024 * 1024, *, warn_every_s: float = 60.0
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.warn_every_s = warn_every_s
        self.dropped = 0  # lines dropped since this log was opened (tests and metrics read it)
        self._unreported = 0  # dropped lines not yet in a warning
        self._warned_at = -warn_every_s
        self._size = 0
        self._torn = False
        self._fd: int | None = None
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    def _open(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._size = os.fstat(self._fd).st_size
        except OSError:
            self._fd = None  # tried again at the next line

    def write(self, line: bytes) -> None:
        """Append one line, unbuffered (a crash loses nothing); dropped if it cannot be."""
        try:
            if self._fd is None:
                self._open()
            if self._fd is not None and self._size + len(line) > self.max_bytes:
                self._rotate()
            if self._fd is None:
                raise OSError("console_output.log cannot be opened")
            if self._torn:  # the line cut short by the full disk ends before this one
                line = b"\n" + line
            written = os.write(self._fd, line)
            self._size += written
            self._torn = 0 < written < len(line)
            if written < len(line):  # the disk filled mid-line: the rest is lost
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            self._drop(exc)
            return
        if self._unreported:
            self._warn("")

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._open()

    def _drop(self, exc: OSError) -> None:
        self.dropped += 1
        self._unreported += 1
        self._warn(f": {exc.strerror or exc}")

    def _warn(self, why: str) -> None:
        now = time.monotonic()
        if now - self._warned_at < self.warn_every_s and why:
            return  # rate-limited; the count goes on growing and the next warning says it
        self._warned_at = now
        count, self._unreported = self._unreported, 0
        if why:
            logger.warning(
                "%d line(s) of application output could not be written to %s%s; they are "
                "dropped until the disk takes them again.", count, self.path, why,
            )  # fmt: skip
        else:
            logger.warning(
                "%d line(s) of application output were dropped (%s could not be written); "
                "writing it again.", count, self.path,
            )  # fmt: skip

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class SupervisedProcess:
    """One node's process, watched over: subclasses say how it starts (``_spawn``) and what its
    start and restarts report."""

    what = "process"

    def __init__(
        self,
        name: str,
        on_status: StatusCallback,
        policy: RestartPolicy,
        *,
        pid_file: Path | None = None,
        cgroup: Slot | None = None,
        pasta_pid_file: Path | None = None,
    ) -> None:
        self.name = name
        self.on_status = on_status
        self.policy = policy
        self.pid_file = pid_file  # written by _spawn, removed when the process has ended
        self.cgroup = cgroup
        self.pasta_pid_file = pasta_pid_file
        self.last_stderr = ""
        self.restarts = 0
        # The instance group's OOM kills seen so far: one more means this node was killed.
        self._oom_kills = cgroup.oom_kills() if cgroup else 0
        self._running: Running | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()

    @property
    def pid(self) -> int | None:
        """The application's PID (the sandbox's init when sandboxed), for tests and logs."""
        running = self._running
        if running is None:
            return None
        return running.sandbox_pid or running.process.pid

    def netns_pid(self) -> int | None:
        return self._running.netns_pid if self._running else None

    async def start(self) -> None:
        """Start the process (LaunchFailed if it cannot be started), then watch over it."""
        for attempt in range(3):
            try:
                self._running = await self._spawn()
                break
            except LaunchFailed:
                # Setting up namespaces can fail once under load (bwrap: "loopback: Failed
                # RTM_NEWADDR"); a failure that stays is a launch error.
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        self._started()
        self._task = asyncio.create_task(self._supervise(), name=f"node-{self.name}")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        running = self._running
        if running is not None:
            await self._terminate(running)
        if self._task is not None:
            # Not cancelled: a restart in progress must finish, so that its process is known
            # and stopped too, instead of being left behind.
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.policy.stop_timeout_s + 30)
            except TimeoutError:
                self._task.cancel()

    # --- supervision --------------------------------------------------------------------------
    async def _supervise(self) -> None:
        exits: deque[float] = deque()
        delay = self.policy.backoff_base_s
        while True:
            running = self._running
            if running is not None:
                status = await running.process.wait()
                await self._cleanup(running)
                what = self._killed_for_memory() or f"exited with status {status}"
            else:
                what = "could not be started"  # the last restart failed; why is in last_stderr
            if self._stopping:
                return
            self._exited(what)
            now = time.monotonic()
            exits.append(now)
            while exits and now - exits[0] > self.policy.window_s:
                exits.popleft()
            if len(exits) == 1:
                delay = self.policy.backoff_base_s  # the first exit in a while: restart soon
            logger.warning("%s %s %s.", self.what.capitalize(), self.name, what)
            if len(exits) > self.policy.max_restarts:
                message = f"{what} {len(exits)} times in {self.policy.window_s:g} s"
                if self.last_stderr:
                    message += f"; last error output: {self.last_stderr}"
                self._running = None
                self.on_status(self.name, "ERROR", message[:2000])
                return
            # Wait before restarting, longer after each crash; a stop cuts the wait short.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            if self._stopping:
                return
            delay = min(delay * 2, self.policy.backoff_cap_s)
            try:
                self._running = await self._spawn()
            except LaunchFailed as exc:
                self._running = None  # counted like an exit, retried until it happens too often
                self.last_stderr = str(exc)[-500:]
                continue
            if self._stopping:  # stop() came while this process was being started
                await self._terminate(self._running)
                return
            self.restarts += 1
            self._restarted(what)

    def _killed_for_memory(self) -> str:
        """ "was killed: memory limit 512 MiB reached" when the kernel's OOM killer ended it for
        its instance's memory limit ("" otherwise)."""
        slot = self.cgroup
        if slot is None:
            return ""
        kills = slot.oom_kills()
        if kills <= self._oom_kills:
            return ""
        self._oom_kills = kills
        return f"was killed: memory limit {slot.memory_mib} MiB reached"

    # --- what subclasses say --------------------------------------------------------------------
    async def _spawn(self) -> Running:
        """Start the process (LaunchFailed if it cannot be started)."""
        raise NotImplementedError

    def _started(self) -> None:
        """The first start succeeded."""

    def _restarted(self, what: str) -> None:
        """It ran again after it ``what`` (exited with status 1, say)."""

    def _exited(self, what: str) -> None:
        """It ended unasked: it ``what`` (exited with status 1, say)."""

    # --- stopping -----------------------------------------------------------------------------
    async def _terminate(self, running: Running) -> None:
        process = running.process
        if process.returncode is None:
            self._signal_app(running, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self.policy.stop_timeout_s)
            except TimeoutError:
                logger.warning(
                    "%s %s did not stop within %g s of SIGTERM; killing it.",
                    self.what.capitalize(), self.name, self.policy.stop_timeout_s,
                )  # fmt: skip
                self._kill(running)
                await process.wait()
        await self._cleanup(running)

    def _signal_app(self, running: Running, signum: int) -> None:
        if running.sandbox_pid is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(running.process.pid, signum)
            return
        # In the sandbox the application is the child of bwrap's init (PID 1 there); bwrap
        # exits with the application's status once it ends.
        try:
            children = psutil.Process(running.sandbox_pid).children()
        except psutil.Error:
            children = []
        if not children:
            self._kill(running)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.send_signal(signum)

    def _kill(self, running: Running) -> None:
        targets = [running.sandbox_pid] if running.sandbox_pid else []
        for pid in targets:  # killing a PID namespace's init kills everything in it
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(running.process.pid, signal.SIGKILL)

    async def _cleanup(self, running: Running) -> None:
        """After the application ended: no orphan of it, no pasta, and its output flushed."""
        if running.sandbox_pid is None:
            # Panorama's container ends with its main process; so do the main's children.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(running.process.pid, signal.SIGKILL)
        if running.pasta_pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(running.pasta_pid, signal.SIGTERM)
            running.pasta_pid = None
            if self.pasta_pid_file is not None:
                self.pasta_pid_file.unlink(missing_ok=True)
        if running.readers:
            _, pending = await asyncio.wait(running.readers, timeout=2)
            for task in pending:
                task.cancel()
        if self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)


class CodeNode(SupervisedProcess):
    """A code node: the application's code, started by ``spawn`` (sandboxed when it can be),
    its stdout and stderr in ``console_output.log``."""

    what = "code node"

    def __init__(
        self,
        name: str,
        plan: LaunchPlan,
        log: ConsoleLog,
        on_status: StatusCallback,
        support: SandboxSupport,
        policy: RestartPolicy,
        prefix: str = "",
        on_output: Callable[[str, bool], None] | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            name, on_status, policy, pid_file=plan.pid_file, cgroup=plan.cgroup,
            pasta_pid_file=plan.pasta_pid_file,
        )  # fmt: skip
        self.on_exit = on_exit  # each time the application ends unasked
        self.plan = plan
        self.log = log
        self.support = support
        self.prefix = prefix.encode()
        self.on_output = on_output  # each line of output (text, from stderr) as it comes

    def _started(self) -> None:
        self.on_status(self.name, "RUNNING", "")

    def _exited(self, what: str) -> None:
        if self.on_exit is not None:
            self.on_exit()

    def _restarted(self, what: str) -> None:
        # Reported on the node: it runs again, and the operator sees that it had to be restarted.
        self.on_status(self.name, "RUNNING", f"restarted {self.restarts} time(s); it {what}")

    async def _spawn(self) -> Running:
        running = await spawn(self.plan, self.support)
        running.readers = [
            asyncio.create_task(self._read(running.process.stdout, stderr=False)),
            asyncio.create_task(self._read(running.process.stderr, stderr=True)),
        ]
        return running

    async def _read(self, stream: asyncio.StreamReader | None, *, stderr: bool) -> None:
        async for line in read_lines(stream):
            if stderr and line.strip():
                self.last_stderr = line.decode(errors="replace").strip()[-500:]
            self.log.write(self.prefix + line if self.prefix else line)  # never raises
            if self.on_output is not None:
                try:
                    self.on_output(line.decode(errors="replace").rstrip("\n"), stderr)
                except Exception:  # the reader must outlive any failure: else the pipe fills
                    logger.debug("output callback of %s failed", self.name, exc_info=True)
