"""A camera, model or display node: one edge runtime process (``python -m edge_agent.runtime.*``),
supervised as a code node is (``SupervisedProcess``: restart with backoff, crash-loop guard,
SIGTERM then kill), that tells its status and metrics on stdout (it says when it runs) and logs
on stderr (``edge_agent/runtime/report.py``).

These processes are the agent's own code, so they run unsandboxed, as the agent; a camera's
credentials reach its process on stdin only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from edge_agent.apps.process import RestartPolicy, StatusCallback, SupervisedProcess, read_lines
from edge_agent.apps.spawn import LaunchFailed, Running, _write_pid, pin
from edge_agent.runtime import report

logger = logging.getLogger("edge_agent.apps.runtime")
LogCallback = Callable[[str, str, str], None]  # node name, level, message
MetricsCallback = Callable[[str, dict[str, Any]], None]
MODULES = {"camera": "camera", "model": "modelserver", "display": "display"}
CAMERA_NICE = 5
MODEL_NICE = 10


class RuntimeNode(SupervisedProcess):
    def __init__(
        self,
        name: str,
        kind: str,
        config: Path,
        *,
        on_status: StatusCallback,
        on_log: LogCallback,
        on_metrics: MetricsCallback,
        on_restart: Callable[[str], None],
        policy: RestartPolicy,
        pid_file: Path | None = None,
        stdin: bytes = b"",
        cpus: frozenset[int] | None = None,
    ) -> None:
        super().__init__(name, on_status, policy, pid_file=pid_file)
        self.argv = [
            sys.executable, "-m", f"edge_agent.runtime.{MODULES[kind]}", "--config", str(config)
        ]  # fmt: skip
        self.cpus = cpus
        self.what = f"{kind} node"
        self.kind = kind
        # A model server uses every CPU, and is what limits the frame rate on a CPU appliance:
        # it runs last, so that the light nodes that feed it and show its answers are never
        # kept waiting by it. A camera decodes every frame, needed or not: when the CPU is
        # short, the application and the display (what the operator waits for) go first, and
        # frames are dropped.
        self.nice = {"camera": CAMERA_NICE, "model": MODEL_NICE}.get(kind, 0)
        self.on_log = on_log
        self.on_metrics = on_metrics  # each report, as the process counts (from 0 when started)
        self.on_restart = on_restart
        self.stdin = stdin
        self._note = ""
        self.first_status = asyncio.Event()

    async def _spawn(self) -> Running:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv, env=env, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True, preexec_fn=pin(self.cpus, self.nice),
            )  # fmt: skip
        except OSError as exc:
            raise LaunchFailed(f"cannot start the {self.what}: {exc.strerror or exc}") from None
        assert process.stdin is not None
        process.stdin.write(self.stdin + b"\n")
        with contextlib.suppress(ConnectionError):  # it died at once: supervision sees the exit
            await process.stdin.drain()
        process.stdin.close()
        if self.pid_file is not None:
            _write_pid(self.pid_file, process.pid)
        running = Running(process)
        running.readers = [
            asyncio.create_task(self._events(process.stdout)),
            asyncio.create_task(self._logs(process.stderr)),
        ]
        return running

    def _restarted(self, what: str) -> None:
        self._note = f"restarted {self.restarts} time(s); it {what}"
        self.on_restart(self.name)

    async def _lines(self, stream: asyncio.StreamReader | None) -> AsyncIterator[str]:
        async for line in read_lines(stream):
            yield line.decode(errors="replace").rstrip("\n")

    async def _events(self, stream: asyncio.StreamReader | None) -> None:
        async for line in self._lines(stream):
            try:
                self._event(line)
            except Exception:  # the reader must outlive any failure: else the pipe fills
                logger.exception("%s %s: its event could not be handled", self.what, self.name)

    def _event(self, line: str) -> None:
        event = report.parse(line)
        if event is None:
            if line.strip():
                self.on_log(self.name, "INFO", line)
            return
        if "status" in event:
            status, message = str(event["status"]), str(event.get("message") or "")
            if status == "RUNNING" and not message:
                message = self._note
            self.on_status(self.name, status, message)
            self.first_status.set()
        if isinstance(event.get("metrics"), dict):
            self.on_metrics(self.name, {**event["metrics"], "restarts": self.restarts})

    async def _logs(self, stream: asyncio.StreamReader | None) -> None:
        level = "INFO"
        async for line in self._lines(stream):
            if line.startswith(" "):  # the rest of a multi-line record (a traceback)
                self.on_log(self.name, level, line[1:])
                continue
            level, message = report.parse_log(line)
            if level in ("ERROR", "CRITICAL") or not self.last_stderr:
                self.last_stderr = message[-500:]
            self.on_log(self.name, level, message)  # AppLogs.line: memory only, never raises
