"""Resource limits: the instance's control group, and a node killed for memory said so.

The group's files are checked on trees the tests build (cgroup v2 and v1); the real kill runs
where this machine lets the agent make memory groups (root, a memory controller)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge_agent.apps import cgroups
from edge_agent.apps.process import RestartPolicy
from tests.support.agents import IID, Reports, code_node, container, make_spec, make_supervisor, run
from tests.support.waiting import eventually


def mounts(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "mounts"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_v2_is_used_where_it_has_the_controllers_and_v1_otherwise(tmp_path):
    unified = tmp_path / "unified"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("cpuset io pids\n")
    (tmp_path / "memory").mkdir()
    table = mounts(
        tmp_path, f"cgroup2 {unified} cgroup2 rw,relatime 0 0",
        f"cgroup {tmp_path / 'cpu'} cgroup rw,relatime,cpu 0 0",
        f"cgroup {tmp_path / 'memory'} cgroup rw,relatime,memory 0 0",
    )  # fmt: skip
    # A hybrid host whose unified hierarchy has no memory controller: v1.
    assert cgroups.detect(table) == cgroups.Hierarchy(1, tmp_path / "memory", tmp_path / "cpu")
    (unified / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert cgroups.detect(table) == cgroups.Hierarchy(2, unified, None)
    assert cgroups.detect(mounts(tmp_path, "proc /proc proc rw 0 0")) is None


def test_a_v2_group_gets_its_limits_and_counts_its_oom_kills(tmp_path):
    root = tmp_path / "cg"
    root.mkdir()
    slot = cgroups.slot_for(IID, 512, 1.5, cgroups.Hierarchy(2, root, None))
    assert slot is not None
    group = root / "vantage-apps" / IID
    assert (root / "vantage-apps" / "cgroup.subtree_control").read_text() == "+memory +cpu"
    assert (group / "memory.max").read_text() == str(512 * 1024 * 1024)
    assert (group / "cpu.max").read_text() == "150000 100000"
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert slot.oom_kills() == 1
    assert cgroups.slot_for(IID, None, None, cgroups.Hierarchy(2, root, None)) is None


def test_a_v1_group_gets_its_limits(tmp_path):
    hierarchy = cgroups.Hierarchy(1, tmp_path / "memory", tmp_path / "cpu")
    slot = cgroups.slot_for(IID, 64, None, hierarchy)
    assert slot is not None
    group = tmp_path / "memory" / "vantage-apps" / IID
    assert (group / "memory.limit_in_bytes").read_text() == str(64 * 1024 * 1024)
    assert (tmp_path / "cpu" / "vantage-apps" / IID / "cpu.cfs_quota_us").read_text() == "-1"
    (group / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert slot.oom_kills() == 2


def test_without_a_place_for_groups_the_node_runs_without_limits(tmp_path, caplog):
    assert cgroups.slot_for(IID, 64, None, None) is None
    assert "runs without its resource limits" in caplog.text
    missing = cgroups.Hierarchy(2, tmp_path / "not-mounted" / "x", None)
    assert cgroups.slot_for(IID, 64, None, missing) is None
    assert "Resource limits cannot be set" in caplog.text


HUNGRY = """
import os, sys
print("allocating", flush=True)
hog = bytearray(256 * 1024 * 1024)
for i in range(0, len(hog), 4096):
    hog[i] = 1
print("survived", flush=True)
"""

REAL = cgroups.detect()
needs_groups = pytest.mark.skipif(
    REAL is None or not (REAL.memory / "cgroup.procs").exists(),
    reason="this machine has no memory controller the tests may use",
)


@needs_groups
def test_a_node_over_its_memory_limit_is_reported_as_killed_for_it(tmp_path, server):
    if os.geteuid() != 0:
        pytest.skip("making control groups needs root")
    node = code_node(server.add(container(HUNGRY)))
    reports = Reports()
    policy = RestartPolicy(backoff_base_s=0.01, max_restarts=1, window_s=60, stop_timeout_s=5)

    async def main() -> None:
        supervisor = make_supervisor(tmp_path / "data", server, reports, policy=policy)
        try:
            await supervisor.apply([make_spec(1, [node], limits={"memory_mib": 64})])
            await supervisor.settle(30)
            await eventually(lambda: (reports.node("code_node") or {}).get("status") == "ERROR", 30)
        finally:
            await supervisor.close()

    run(main)
    message = reports.node("code_node")["message"]
    assert message.startswith("was killed: memory limit 64 MiB reached 2 times in 60 s"), message
    assert not (REAL.memory / "vantage-apps" / IID).exists()  # removed with the instance's stop
