"""Starting the edge runtime's processes for tests, each a real subprocess as the agent starts it.

A :class:`Runtime` is one instance's runtime folder (short, under ``/dev/shm`` when there is
one, as the agent's: socket paths have a 108-byte limit) and the processes started in it:
cameras, model servers and code nodes, each with its config JSON written into the folder. It
tears them all down (SIGTERM, then SIGKILL) and removes the folder::

    with Runtime() as runtime:
        runtime.create_ring("cam-camera_node.ring")
        camera = runtime.start_camera("camera_node", "file:///…/pedestrians.mp4")
        ...
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_agent.runtime import report
from edge_agent.runtime.config import (
    CameraConfig,
    CameraSecrets,
    CodeNodeConfig,
    ModelServerConfig,
    TensorSpec,
)
from edge_agent.runtime.ring import FrameRing
from tests.support.paths import BASE_DIR
from tests.support.waiting import wait_for

REPO = BASE_DIR
STOP_TIMEOUT_S = 10.0
# Where the agent puts runtime folders (memory, not disk); mkdtemp makes a private folder in it.
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108


@dataclass
class RuntimeProcess:
    """One runtime process; its stdout and stderr go to files in the runtime's log folder."""

    name: str
    popen: subprocess.Popen
    stdout_path: Path
    stderr_path: Path

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The ``@vantage`` status and metrics lines it printed so far."""
        return [e for e in map(report.parse, self.stdout().splitlines()) if e is not None]

    def statuses(self) -> list[str]:
        return [e["status"] for e in self.events() if "status" in e]

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe(self) -> str:
        """Everything it printed, for an assertion message."""
        code = self.popen.poll()
        state = "running" if code is None else f"exited with {code}"
        return (
            f"--- {self.name} ({state}) stdout:\n{self.stdout()[-4000:]}\n"
            f"--- {self.name} stderr:\n{self.stderr()[-4000:]}"
        )

    def wait_for_status(self, state: str, timeout: float = 20.0) -> None:
        def seen() -> bool:
            if state in self.statuses():
                return True
            if not self.alive():
                raise AssertionError(f"{self.name} exited before {state}\n{self.describe()}")
            return False

        wait_for(seen, timeout, f"{self.name} to report {state}\n{self.describe()}")

    def wait_for_output(self, text: str, timeout: float = 20.0, stream: str = "both") -> str:
        def seen() -> str | None:
            out = {"stdout": self.stdout, "stderr": self.stderr}
            readers = list(out.values()) if stream == "both" else [out[stream]]
            for read in readers:
                content = read()
                if text in content:
                    return content
            if not self.alive():
                raise AssertionError(f"{self.name} exited before printing {text!r}\n"
                                     f"{self.describe()}")  # fmt: skip
            return None

        return wait_for(seen, timeout, f"{self.name} to print {text!r}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then SIGKILL if it is still there after ``timeout``; its exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        if self.popen.stdin is not None:
            self.popen.stdin.close()
        return self.popen.returncode


@dataclass
class Runtime:
    """An instance's runtime folder and the processes running in it."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vt-", dir=SHM)))
    processes: list[RuntimeProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.logs = Path(tempfile.mkdtemp(prefix="vt-logs-"))

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- files ------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.root / name

    def create_ring(self, name: str, **kwargs: Any) -> FrameRing:
        """Make a ring file as the agent does before it starts the processes."""
        return FrameRing.create(self.root / name, **kwargs)

    def write_config(self, name: str, config: Any) -> Path:
        path = self.root / f"{name}.json"
        path.write_text(config.model_dump_json(indent=1))
        return path

    # --- processes ----------------------------------------------------------------------------
    def spawn(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        stdin_line: str | None = None,
        cwd: Path | None = None,
    ) -> RuntimeProcess:
        stdout_path = self.logs / f"{name}.out"
        stderr_path = self.logs / f"{name}.err"
        full_env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        full_env.update(env or {})
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            popen = subprocess.Popen(
                argv, cwd=cwd or REPO, env=full_env, stdout=out, stderr=err,
                stdin=subprocess.PIPE if stdin_line is not None else subprocess.DEVNULL,
            )  # fmt: skip
        process = RuntimeProcess(name, popen, stdout_path, stderr_path)
        self.processes.append(process)
        if stdin_line is not None:
            assert popen.stdin is not None
            popen.stdin.write(stdin_line.encode() + b"\n")
            popen.stdin.flush()
        return process

    def start_camera(
        self, node: str, url: str, *, ring: str | None = None, secrets: CameraSecrets | None = None,
        **options: Any,
    ) -> RuntimeProcess:  # fmt: skip
        """``python -m edge_agent.runtime.camera``; the ring must exist (``create_ring``)."""
        config = CameraConfig(
            node=node, runtime_dir=str(self.root), ring=ring or f"cam-{node}.ring", url=url,
            **options,
        )  # fmt: skip
        path = self.write_config(f"camera-{node}", config)
        return self.spawn(
            f"camera-{node}",
            [sys.executable, "-m", "edge_agent.runtime.camera", "--config", str(path)],
            stdin_line=(secrets or CameraSecrets()).model_dump_json(),
        )

    def start_model_server(
        self, node: str, model_archive: Path, inputs: list[TensorSpec], **options: Any
    ) -> RuntimeProcess:
        """``python -m edge_agent.runtime.modelserver`` serving ``model-<node>.sock``."""
        config = ModelServerConfig(
            node=node, runtime_dir=str(self.root), socket=f"model-{node}.sock",
            model_archive=str(model_archive), inputs=inputs, **options,
        )  # fmt: skip
        path = self.write_config(f"model-{node}", config)
        return self.spawn(
            f"model-{node}",
            [sys.executable, "-m", "edge_agent.runtime.modelserver", "--config", str(path)],
        )

    def start_code_node(
        self,
        config: CodeNodeConfig,
        argv: list[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> RuntimeProcess:
        """An application (``argv``, e.g. ``[python, application.py]``) as a code node: its
        config written here and named by ``VANTAGE_NODE_CONFIG``, unsandboxed (the runtime
        folder at its real place)."""
        path = self.write_config(f"code-{config.node}", config)
        node_env = {"VANTAGE_NODE_CONFIG": str(path), "VANTAGE_RUNTIME_DIR": str(self.root)}
        return self.spawn(f"code-{config.node}", argv, env={**node_env, **(env or {})}, cwd=cwd)

    def close(self) -> None:
        # Code nodes first (they are the camera's and model server's clients), then the rest.
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.logs, ignore_errors=True)


def tensor(name: str, shape: list[int], type: str = "float32") -> TensorSpec:
    return TensorSpec(name=name, shape=shape, type=type)
