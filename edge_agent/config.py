"""Where the agent keeps its files, its defaults, and how it writes files safely.

Everything the agent owns lives under one data directory, so ``reset --full`` can wipe it and
two agents (or the tests) never share state by accident.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_USB_DIR = "/media/usb"
DEFAULT_DATA_DIR = "/var/lib/vantage-agent"
ENV_USB_DIR = "VANTAGE_AGENT_USB_DIR"
ENV_DATA_DIR = "VANTAGE_AGENT_DATA_DIR"
ENV_REBOOT_COMMAND = "VANTAGE_AGENT_REBOOT_COMMAND"
ENV_NETWORK_APPLIER = "VANTAGE_AGENT_NETWORK_APPLIER"
ENV_LOG_LEVEL = "VANTAGE_AGENT_LOG_LEVEL"
ENV_ETHERNET0 = "VANTAGE_AGENT_ETHERNET0"
ENV_ETHERNET1 = "VANTAGE_AGENT_ETHERNET1"
# Reconnect delays (tests and simulations shorten them): base doubles up to the cap.
ENV_BACKOFF_BASE_S = "VANTAGE_AGENT_BACKOFF_BASE_S"
ENV_BACKOFF_CAP_S = "VANTAGE_AGENT_BACKOFF_CAP_S"


@dataclass(frozen=True)
class AgentPaths:
    """The layout of the data directory (docs/agent.md lists it)."""

    data_dir: Path

    @property
    def identity(self) -> Path:
        return self.data_dir / "identity.json"

    @property
    def key(self) -> Path:
        return self.data_dir / "device_key.pem"

    @property
    def seal_key(self) -> Path:
        return self.data_dir / "seal_key.pem"

    @property
    def ca(self) -> Path:
        return self.data_dir / "console-ca.pem"

    @property
    def network(self) -> Path:
        return self.data_dir / "network.json"

    @property
    def status(self) -> Path:
        return self.data_dir / "status.json"

    @property
    def state(self) -> Path:
        return self.data_dir / "state.json"

    @property
    def refused(self) -> Path:
        return self.data_dir / "refused-archives.json"

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox.sqlite3"

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def apps(self) -> Path:
        return self.data_dir / "apps"

    @property
    def software(self) -> Path:
        return self.data_dir / "software"

    @property
    def current(self) -> Path:
        return self.software / "current"

    @property
    def bundles(self) -> Path:
        return self.software / "bundles"

    @property
    def lock(self) -> Path:
        return self.data_dir / "agent.lock"


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` so that readers see the old or the new file, never a torn one.

    The temporary file is created with ``mode`` from the start (O_EXCL via mkstemp, then
    fchmod before any byte is written), so a secret never exists with wider permissions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_json(path: Path, document: Any, mode: int = 0o644) -> None:
    write_atomic(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode(), mode)


def read_json(path: Path, default: Any = None) -> Any:
    """The JSON document at ``path``, or ``default`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


class AgentLock:
    """An exclusive flock on ``<data>/agent.lock``, held by ``run`` for its whole life.

    ``reset`` takes the same lock, so it can never wipe files under a running agent. The
    descriptor is close-on-exec, so a development-mode restart (os.execv) releases it for the
    new process image.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AgentLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def agent_running(paths: AgentPaths) -> bool:
    """Whether an agent holds the lock of this data directory right now."""
    if not paths.lock.exists():
        return False
    lock = AgentLock(paths.lock)
    if lock.acquire():
        lock.release()
        return False
    return True
