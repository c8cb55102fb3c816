"""Resource limits of an application instance's code: one control group per instance.

The console sends each instance's limits (``ApplicationSpec.limits``: memory in MiB, CPUs; the
deployment's own or the installation's defaults). The agent makes a control group for the
instance, ``vantage-apps/<instance id>``, sets the limits on it, and starts every code node of
the instance in it (the child writes itself into ``cgroup.procs`` between fork and exec, so not
one allocation escapes). The model servers, cameras and display are the agent's own runtime and
stay outside: a limit is the application's, not the pipeline's.

cgroup v2 is used where the host has it with the memory and cpu controllers (``memory.max``,
``cpu.max``; swap off, so the limit is the limit); otherwise the v1 memory and cpu hierarchies
(``memory.limit_in_bytes``, ``cpu.cfs_quota_us``). Without either, or when the agent may not
make groups (not root), nodes run without limits and the agent says so once.

A node killed by the kernel for its group's memory shows up in the group's OOM counter
(``memory.events`` ``oom_kill`` in v2, ``memory.oom_control`` in v1): the node's message then
says ``killed: memory limit 512 MiB reached`` instead of a bare exit status.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("edge_agent.apps.cgroups")
GROUP = "vantage-apps"
CPU_PERIOD_US = 100_000


class CgroupError(Exception):
    pass


@dataclass(frozen=True)
class Hierarchy:
    version: int  # 2 or 1
    memory: Path  # v2: the unified mount; v1: the memory controller's mount
    cpu: Path | None  # v1 only: the cpu controller's mount (None: no CPU limits)


def detect(mounts: Path = Path("/proc/self/mounts")) -> Hierarchy | None:
    """Where limits can be set on this machine; None where they cannot."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return None
    v1: dict[str, Path] = {}
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        where, kind, options = Path(fields[1]), fields[2], fields[3].split(",")
        if kind == "cgroup2":
            try:
                controllers = (where / "cgroup.controllers").read_text().split()
            except OSError:
                continue
            if {"memory", "cpu"} <= set(controllers):
                return Hierarchy(2, where, None)
        elif kind == "cgroup":
            for controller in ("memory", "cpu"):
                if controller in options:
                    v1.setdefault(controller, where)
    if "memory" in v1:
        return Hierarchy(1, v1["memory"], v1.get("cpu"))
    return None


class Slot:
    """One instance's control group (in each hierarchy that takes part)."""

    def __init__(self, hierarchy: Hierarchy, name: str) -> None:
        self.hierarchy = hierarchy
        self.memory_dir = hierarchy.memory / GROUP / name
        self.cpu_dir = hierarchy.cpu / GROUP / name if hierarchy.cpu else None
        self.memory_mib: int | None = None

    @property
    def folders(self) -> list[Path]:
        return [f for f in (self.memory_dir, self.cpu_dir) if f is not None]

    def create(self, memory_mib: int | None, cpus: float | None) -> None:
        """Make the group and set its limits; CgroupError if the host does not let us."""
        try:
            if self.hierarchy.version == 2:
                self._create_v2(memory_mib, cpus)
            else:
                self._create_v1(memory_mib, cpus)
        except OSError as exc:
            self.remove()
            raise CgroupError(f"{exc.filename}: {exc.strerror}") from None
        self.memory_mib = memory_mib

    def _create_v2(self, memory_mib: int | None, cpus: float | None) -> None:
        parent = self.memory_dir.parent
        parent.mkdir(exist_ok=True)
        # Limits apply below a group that hands the controllers down.
        (parent / "cgroup.subtree_control").write_text("+memory +cpu")
        self.memory_dir.mkdir(exist_ok=True)
        if memory_mib is not None:
            (self.memory_dir / "memory.max").write_text(str(memory_mib * 1024 * 1024))
            swap = self.memory_dir / "memory.swap.max"
            if swap.exists():
                swap.write_text("0")
        quota = "max" if cpus is None else str(max(1000, int(cpus * CPU_PERIOD_US)))
        (self.memory_dir / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")

    def _create_v1(self, memory_mib: int | None, cpus: float | None) -> None:
        for folder in self.folders:
            folder.mkdir(parents=True, exist_ok=True)
        limit = -1 if memory_mib is None else memory_mib * 1024 * 1024
        (self.memory_dir / "memory.limit_in_bytes").write_text(str(limit))
        if self.cpu_dir is not None:
            (self.cpu_dir / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            quota = -1 if cpus is None else max(1000, int(cpus * CPU_PERIOD_US))
            (self.cpu_dir / "cpu.cfs_quota_us").write_text(str(quota))

    def enter(self) -> Callable[[], None]:
        """What a child runs between fork and exec to join the group (children follow)."""
        procs = [str(folder / "cgroup.procs") for folder in self.folders]

        def join() -> None:
            pid = str(os.getpid())
            for path in procs:
                # A group gone under it (an agent stopping) must not keep the node from starting.
                with contextlib.suppress(OSError), open(path, "w") as handle:
                    handle.write(pid)

        return join

    def oom_kills(self) -> int:
        """How often the kernel killed a process of the group for its memory limit."""
        name = "memory.events" if self.hierarchy.version == 2 else "memory.oom_control"
        try:
            for line in (self.memory_dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def remove(self) -> None:
        """Remove the group (once its processes are gone; a group with processes stays)."""
        for folder in self.folders:
            with contextlib.suppress(OSError):
                folder.rmdir()


def slot_for(
    instance_id: str, memory_mib: int | None, cpus: float | None,
    hierarchy: Hierarchy | None,
) -> Slot | None:  # fmt: skip
    """The instance's group with its limits, or None (no limits asked, or none possible)."""
    if memory_mib is None and cpus is None:
        return None
    if hierarchy is None:
        logger.warning(
            "This appliance has no cgroup memory controller: application %s runs without its "
            "resource limits.", instance_id,
        )  # fmt: skip
        return None
    slot = Slot(hierarchy, instance_id)
    try:
        slot.create(memory_mib, cpus)
    except CgroupError as exc:
        logger.warning(
            "Resource limits cannot be set for application %s (%s): it runs without them.",
            instance_id, exc,
        )  # fmt: skip
        return None
    return slot
