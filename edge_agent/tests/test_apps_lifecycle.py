"""Instances over time: redeploys, removal, agent restarts (also after a crash), and the
agent's desired-state handler. Real processes, files and HTTP, as in test_apps.py."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys

import psutil

from tests.support.agents import (
    IID,
    Reports,
    app_pid,
    code_node,
    container,
    make_spec,
    make_supervisor,
    run,
)
from tests.support.ports import free_port
from tests.support.waiting import eventually, http_get, wait_for


def test_redeploy_replaces_the_processes_and_keeps_storage(tmp_path, server):
    asset = server.add(container())
    port = free_port()
    first = make_spec(1, [code_node(asset)], environment={"APP_LABEL": "one"})
    second = make_spec(
        2, [code_node(asset)], environment={"APP_LABEL": "two", "APP_PORTS": str(port)},
        network_routing_rules=[{"node": "code_node", "container_port": port, "host_port": port}],
    )  # fmt: skip
    reports = Reports()
    storage = tmp_path / "apps" / IID / "storage"

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([first])
            await supervisor.settle(30)
            await eventually(lambda: (storage / "starts.log").exists(), 10)
            old = app_pid(supervisor)
            await supervisor.apply([second])
            await supervisor.settle(30)
            assert app_pid(supervisor) != old
            assert not psutil.pid_exists(old) or psutil.Process(old).status() == "zombie"
            await eventually(lambda: (storage / "starts.log").read_text() == "one\ntwo\n", 10)
            assert await asyncio.to_thread(http_get, port) == f"code_node two {port}"
        finally:
            await supervisor.close()

    run(main)
    assert reports.statuses() == ["INSTALL_IN_PROGRESS", "STARTING", "RUNNING"] * 2
    assert [r["generation"] for r in reports] == [1, 1, 1, 2, 2, 2]
    assert (storage / "terminated.log").read_text() == "one\ntwo\n"
    assert sorted(p.name for p in (tmp_path / "apps" / IID).glob("gen-*")) == ["gen-2"]
    # The asset was downloaded once: the second generation used the cache.
    assert len(server.gets(asset["path"])) == 1


def test_removal_stops_and_deletes_the_instance(tmp_path, server):
    spec = make_spec(1, [code_node(server.add(container()))])
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([spec])
            await supervisor.settle(30)
            pid = app_pid(supervisor)
            await supervisor.apply([])
            await supervisor.settle(30)
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        finally:
            await supervisor.close()

    run(main)
    assert reports.statuses()[-2:] == ["REMOVAL_IN_PROGRESS", "STOPPED"]
    assert reports.last()["generation"] == 1
    assert not (tmp_path / "apps" / IID).exists()
    assert json.loads((tmp_path / "apps" / "state.json").read_text()) == {"instances": {}}


def test_a_restarted_agent_restarts_its_instances_without_downloading(tmp_path, server):
    asset = server.add(container())
    spec = make_spec(3, [code_node(asset)])
    reports = Reports()
    leftover = tmp_path / "apps" / "applicationInstance-gone"
    storage = tmp_path / "apps" / IID / "storage"

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        await supervisor.apply([spec])
        await supervisor.settle(30)
        await eventually(lambda: (storage / "starts.log").exists(), 10)
        await supervisor.close()
        (leftover / "storage").mkdir(parents=True)  # an instance removed while the agent was off
        again = make_supervisor(tmp_path, server, reports)
        try:
            await again.restore()
            await again.settle(30)
            await eventually(lambda: (storage / "starts.log").read_text() == "\n\n", 10)
            # The console sends the same desired state after the restart: nothing changes.
            await again.apply([spec])
            await again.settle(10)
        finally:
            await again.close()

    run(main)
    assert reports.statuses() == ["INSTALL_IN_PROGRESS", "STARTING", "RUNNING"] * 2
    assert reports.statuses("applicationInstance-gone") == ["REMOVAL_IN_PROGRESS", "STOPPED"]
    assert not leftover.exists()
    assert len(server.gets(asset["path"])) == 1


def test_leftovers_are_only_instance_folders(tmp_path, server):
    (tmp_path / "apps" / "assets").mkdir(parents=True)
    (tmp_path / "apps" / "desired.json").write_text("[]")
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        await supervisor.restore()
        await supervisor.settle(10)
        await supervisor.close()

    run(main)
    assert reports == []
    assert (tmp_path / "apps" / "assets").is_dir()
    shutil.rmtree(tmp_path / "apps")


AGENT = """
import asyncio, json, sys
from pathlib import Path
from devicelink.apps import ApplicationSpec
from tests.support.agents import AssetServer, Reports, make_supervisor

async def main():
    server = AssetServer()
    server.url = sys.argv[2]
    supervisor = make_supervisor(Path(sys.argv[1]), server, Reports())
    await supervisor.apply([ApplicationSpec.model_validate_json(sys.argv[3])])
    await supervisor.settle(30)
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_processes_left_by_a_killed_agent_are_ended_at_restore(tmp_path, server):

    spec = make_spec(1, [code_node(server.add(container()))])
    storage = tmp_path / "apps" / IID / "storage"
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, str(tmp_path), server.url, spec.model_dump_json()],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert agent.stdout.readline() == "ready\n"
        wait_for(lambda: (storage / "starts.log").exists())
        pid_file = tmp_path / "apps" / IID / "run" / "node-code_node.pid"
        orphan = json.loads(pid_file.read_text())["pid"]
        pasta_file = pid_file.with_name("pasta-code_node.pid")  # where pasta is installed
        pasta = int(pasta_file.read_text()) if pasta_file.exists() else None
        agent.kill()  # the agent dies; an unsandboxed node outlives it
        agent.wait(10)
        assert psutil.pid_exists(orphan)
    finally:
        agent.kill()
        agent.wait(10)
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.restore()
            await supervisor.settle(30)
            await eventually(lambda: not psutil.pid_exists(orphan), 10)
            if pasta is not None:
                await eventually(lambda: not psutil.pid_exists(pasta), 10)
            assert app_pid(supervisor) != orphan
            await eventually(lambda: (storage / "starts.log").read_text() == "\n\n", 10)
        finally:
            await supervisor.close()

    run(main)
    assert reports.statuses() == ["INSTALL_IN_PROGRESS", "STARTING", "RUNNING"]


def test_the_agent_hands_desired_applications_to_the_supervisor(tmp_path, server):
    from devicelink.messages import REPORT_BODIES, Desired
    from edge_agent.agent import Agent, RunOptions
    from tests.support.agents import make_runner

    runner, _, paths = make_runner(tmp_path)
    agent = Agent(RunOptions(usb_dir=tmp_path / "usb", data_dir=paths.data_dir))
    agent.jobs = runner
    reports = Reports()
    agent.apps = make_supervisor(paths.data_dir, server, reports)
    good = make_spec(1, [code_node(server.add(container()))]).model_dump()
    bad = {"application_instance_id": "applicationInstance-bad", "name": "x", "generation": 1}

    async def main() -> None:
        try:
            await agent._apply_desired(Desired(version=5, applications=[good, bad]))
            await agent.apps.settle(30)
        finally:
            await agent.apps.close()

    run(main)
    assert runner.applied_version() == 5
    assert reports.statuses() == ["INSTALL_IN_PROGRESS", "STARTING", "RUNNING"]
    assert reports.statuses("applicationInstance-bad") == ["INSTALL_ERROR"]
    assert "nodes: Field required" in reports.last("applicationInstance-bad")["message"]
    for body in reports:  # what the link will accept for the outbox
        REPORT_BODIES["applications"].model_validate(body)


def test_a_new_generation_without_changes_restarts_the_application(tmp_path, server):
    asset = server.add(container())
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([make_spec(1, [code_node(asset)])])
            await supervisor.settle(30)
            first = app_pid(supervisor)
            await supervisor.apply([make_spec(2, [code_node(asset)])])  # the operator redeploys
            await supervisor.settle(30)
            assert app_pid(supervisor) not in (None, first)
        finally:
            await supervisor.close()

    run(main)
    assert reports.statuses() == ["INSTALL_IN_PROGRESS", "STARTING", "RUNNING"] * 2


def test_an_instance_deployed_again_while_it_is_removed(tmp_path, server):
    asset = server.add(container())
    reports = Reports()
    storage = tmp_path / "apps" / IID / "storage"

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply(
                [make_spec(1, [code_node(asset)], environment={"APP_LABEL": "one"})]
            )
            await supervisor.settle(30)
            await supervisor.apply([])  # the removal starts...
            await supervisor.apply(
                [make_spec(2, [code_node(asset)], environment={"APP_LABEL": "two"})]
            )
            await supervisor.settle(30)  # ...and ends before the new deployment starts
            await eventually(lambda: (storage / "starts.log").exists(), 10)
        finally:
            await supervisor.close()

    run(main)
    assert reports.statuses()[3:] == [
        "REMOVAL_IN_PROGRESS", "STOPPED", "INSTALL_IN_PROGRESS", "STARTING", "RUNNING"
    ]  # fmt: skip
    assert (storage / "starts.log").read_text() == "two\n"  # a fresh folder: storage went too


def test_secrets_never_reach_the_disk_and_their_instance_waits_for_the_console(tmp_path, server):
    asset = server.add(container())
    spec = make_spec(1, [code_node(asset)], environment={"APP_LABEL": "secret-label-7"})
    reports = Reports()
    storage = tmp_path / "apps" / IID / "storage"

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        await supervisor.apply([spec])
        await supervisor.settle(30)
        await eventually(lambda: (storage / "starts.log").exists(), 10)
        await supervisor.close()
        assert "secret-label-7" not in (tmp_path / "apps" / "state.json").read_text()
        again = make_supervisor(tmp_path, server, reports)
        try:
            await again.restore()
            await again.settle(30)
            # Without its runtime role the instance does not start, and its storage stays.
            assert (storage / "starts.log").read_text() == "secret-label-7\n"
            await again.apply([spec])  # the console re-sends the desired state
            await again.settle(30)
            await eventually(
                lambda: (storage / "starts.log").read_text() == "secret-label-7\n" * 2, 10
            )
        finally:
            await again.close()

    run(main)
