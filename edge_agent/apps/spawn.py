"""Starting a code node's process in one of three ways, and finding processes left behind.

- **sandboxed**: under bubblewrap (``sandbox.py``), in its own namespaces;
- **own network namespace**: no bubblewrap, but the agent is root: the node shares the host's
  files but gets a network namespace of its own, so its ports are its own (two instances can
  both serve on 8080, as on an appliance) and only confirmed ports are reachable;
- **plain**: no bubblewrap and no root (a developer's laptop): the host's network.

In the first two the application waits until the agent has set up its network (low ports,
pasta for outbound access); the handshake is bwrap's ``--info-fd``/``--block-fd`` protocol,
which ``NETNS_WRAPPER`` speaks too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from edge_agent.apps import sandbox
from edge_agent.apps.cgroups import Slot
from edge_agent.apps.gpu import GpuAccess
from edge_agent.apps.sandbox import SandboxSupport

# Run by the agent's Python (as root) before the application: a network namespace with
# loopback up, then the same handshake as bwrap (say the PID on argv[1], wait on argv[2]), then
# exec. The namespace belongs to a new user namespace (pasta can only join a network namespace
# that does), to which the agent gives a map of every id to itself while the wrapper waits, so
# the application sees its files as before.
NETNS_WRAPPER = r"""
import ctypes, fcntl, json, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000 | 0x40000000) != 0:
    sys.exit("cannot create a network namespace: " + os.strerror(ctypes.get_errno()))
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, struct.pack("16sH14x", b"lo", 0)))[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))
info, block = int(sys.argv[1]), int(sys.argv[2])
os.write(info, json.dumps({"child-pid": os.getpid()}).encode())
os.close(info)
os.read(block, 1)
os.close(block)
os.execv(sys.argv[3], sys.argv[3:])
"""


class LaunchFailed(Exception):
    pass


@dataclass
class LaunchPlan:
    argv: list[str]
    env: dict[str, str]
    code: Path  # the staged panorama/ folder
    storage: Path
    logs: Path
    sandboxed: bool
    own_netns: bool = False  # unsandboxed only: a network namespace of its own
    hostname: str = "panorama"
    pasta_pid_file: Path | None = None
    # Where the running process's PID is kept, so that a restarted agent can end a process a
    # crashed agent left behind (see ``kill_leftovers``).
    pid_file: Path | None = None
    # The instance's runtime folder (rings, sockets), bound at /run/vantage in the sandbox.
    runtime: Path | None = None
    cpus: frozenset[int] | None = None  # the CPUs it runs on (see graph.cpu_sets)
    # An unpacked container image the node runs in, as its / (sandboxed only; images.py).
    rootfs: Path | None = None
    gpu: GpuAccess | None = None  # the GPU bound into its sandbox, when its package asks
    cgroup: Slot | None = None  # the instance's control group, with its resource limits


@dataclass
class Running:
    process: asyncio.subprocess.Process
    sandbox_pid: int | None = None  # the sandbox's PID-namespace init, as the host sees it
    netns_pid: int | None = None  # whose network namespace the node listens in; None: the host's
    pasta_pid: int | None = None
    readers: list[asyncio.Task[None]] = field(default_factory=list)


async def spawn(plan: LaunchPlan, support: SandboxSupport) -> Running:
    """Start the process; LaunchFailed if it cannot be started."""
    try:
        if plan.sandboxed and support.bwrap:
            running = await _isolated(plan, support, bwrap=support.bwrap)
        elif plan.own_netns:
            running = await _isolated(plan, support, bwrap=None)
        else:
            process = await _exec(plan.argv, plan, ())
            running = Running(process)
    except OSError as exc:
        raise LaunchFailed(f"cannot start {plan.argv[0]}: {exc.strerror or exc}") from None
    if plan.pid_file is not None:
        _write_pid(plan.pid_file, running.process.pid)
    return running


async def _exec(argv: list[str], plan: LaunchPlan, fds: tuple[int, ...]):
    return await asyncio.create_subprocess_exec(
        *argv, cwd=plan.code, env=plan.env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, pass_fds=fds,
        start_new_session=True,  # its own process group, for stopping it whole
        preexec_fn=pin(plan.cpus, join=plan.cgroup.enter() if plan.cgroup else None),
    )  # fmt: skip


def pin(cpus: frozenset[int] | None, nice: int = 0, join=None):  # type: ignore[no-untyped-def]
    """A ``preexec_fn`` that runs the child on ``cpus`` (None: wherever the agent runs), ``nice``
    levels below the agent's priority, in a control group (``join``: cgroups.Slot.enter())."""

    def setup() -> None:
        if join is not None:
            join()
        if cpus:
            os.sched_setaffinity(0, cpus)
        level = os.nice(nice)
        # Every node runs in a session of its own (to be stopped whole), and with the kernel's
        # autogroups (Debian's default) each session is scheduled as one group of weight
        # "nice 0" whatever its processes' nice: priorities between nodes would mean nothing.
        # The group takes the node's nice, so a model server does run after the light nodes.
        set_autogroup_nice(level)

    return setup


def set_autogroup_nice(level: int) -> None:
    """Give this process's autogroup (its session's scheduling group) the nice ``level``;
    nothing where the kernel has no autogroups, or where the level is not allowed."""
    try:
        with open("/proc/self/autogroup", "w") as autogroup:
            autogroup.write(str(level))
    except OSError:
        pass


async def _isolated(plan: LaunchPlan, support: SandboxSupport, bwrap: str | None) -> Running:
    info_r, info_w = os.pipe()
    block_r, block_w = os.pipe()
    try:
        if bwrap is not None:
            argv = sandbox.bwrap_argv(
                bwrap, code=plan.code, storage=plan.storage, logs=plan.logs,
                hostname=plan.hostname, info_fd=info_w, block_fd=block_r, command=plan.argv,
                runtime=plan.runtime, rootfs=plan.rootfs, gpu=plan.gpu,
            )  # fmt: skip
        else:
            argv = [sys.executable, "-c", NETNS_WRAPPER, str(info_w), str(block_r), *plan.argv]
        process = await _exec(argv, plan, (info_w, block_r))
    except BaseException:
        os.close(info_r)
        os.close(block_w)
        raise
    finally:
        os.close(info_w)
        os.close(block_r)
    running = Running(process)
    try:
        info = await asyncio.to_thread(_read_info, info_r)
        pid = int(info["child-pid"])
        running.netns_pid = pid
        if bwrap is not None:
            running.sandbox_pid = pid
            if support.can_enter_netns:
                await asyncio.to_thread(sandbox.allow_low_ports, pid)
        else:
            await asyncio.to_thread(_identity_maps, pid)
        if support.pasta and plan.pasta_pid_file is not None:
            running.pasta_pid = await asyncio.to_thread(
                sandbox.start_pasta, support.pasta, pid, plan.pasta_pid_file
            )
        os.write(block_w, b"go")  # the application starts now
    except BaseException as exc:
        # Also on cancellation: closing block_w below would let the application start.
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        if running.pasta_pid:  # it would outlive the namespace
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(running.pasta_pid, signal.SIGTERM)
        if not isinstance(exc, OSError | ValueError | KeyError):
            raise
        error = await _drain(process)
        raise LaunchFailed(f"its isolation could not be set up: {error or exc}") from None
    finally:
        os.close(info_r)
        os.close(block_w)
    return running


def _identity_maps(pid: int) -> None:
    """Map every user and group id of ``pid``'s new user namespace to itself (root only)."""
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as handle:
            handle.write("0 0 4294967295\n")


def _read_info(fd: int, timeout: float = 15.0) -> dict[str, object]:
    """The ``--info-fd`` JSON (it holds the PID whose namespaces the node has)."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OSError("no word from the starting process")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            raise OSError("the process ended before it was ready")
        data += chunk
        try:
            document = json.loads(data)
        except ValueError:
            continue
        if isinstance(document, dict):
            return document
        raise ValueError("the process's info is not an object")


async def _drain(process: asyncio.subprocess.Process) -> str:
    """The last line the process wrote to stderr (why it failed), after it ended."""
    try:
        _, err = await asyncio.wait_for(process.communicate(), 10)
    except (TimeoutError, ValueError):
        return ""
    lines = (err or b"").decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


def _write_pid(path: Path, pid: int) -> None:
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "created": created}))


def kill_leftovers(run_dir: Path) -> int:
    """End the node processes (and pastas) a previous agent left running; how many it found.

    A PID is trusted only if the process with it was created when the file says, so a PID that
    was reused since is never touched.
    """
    found = 0
    for path in sorted(run_dir.glob("*.pid")):
        try:
            if path.name.startswith("pasta-"):
                pid = int(path.read_text().strip())
                process = psutil.Process(pid)
                if process.name().startswith(("pasta", "passt")):  # passt.avx2 on most CPUs
                    process.kill()
                    found += 1
            else:
                document = json.loads(path.read_text())
                pid = int(document["pid"])
                if psutil.Process(pid).create_time() == document["created"]:
                    os.killpg(pid, signal.SIGKILL)  # the node ran in its own process group
                    found += 1
        except (OSError, ValueError, KeyError, TypeError, psutil.Error):
            pass
        path.unlink(missing_ok=True)
    return found
