"""The application supervisor with real processes, real files and a real HTTP file server.

The assets come from a small stdlib HTTP server that knows nothing but paths and ``Range``
(not an imitation of the console). Container assets are packed by ``vantage_cli.build``, as a
developer's ``build-container`` would. These tests run the nodes unsandboxed (``sandbox=False``);
test_apps_sandbox.py runs them under bubblewrap.
"""

from __future__ import annotations

import asyncio
import json

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
from tests.support.waiting import eventually, http_get


# --- the tests --------------------------------------------------------------------------------
def test_install_runs_the_code_node_and_reports_in_order(tmp_path, server):
    asset = server.add(container())
    host_port, container_port = free_port(), free_port()
    spec = make_spec(
        1, [code_node(asset), {"name": "threshold", "kind": "parameter", "value": 0.6}],
        network_routing_rules=[{"node": "code_node", "container_port": container_port,
                                "host_port": host_port}],
        environment={"APP_PORTS": str(container_port), "APP_LABEL": "one", "SECRET": "s3"},
    )  # fmt: skip
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([spec])
            await supervisor.settle(30)
            assert reports.statuses() == ["INSTALL_IN_PROGRESS", "STARTING", "RUNNING"]
            assert reports.last()["generation"] == 1
            assert reports.last()["nodes"] == [
                {"name": "code_node", "status": "RUNNING", "message": ""}
            ]
            storage = tmp_path / "apps" / IID / "storage"
            await eventually(lambda: (storage / "starts.log").exists(), 10)
            # Through the forwarder, on the confirmed host port.
            answer = await asyncio.to_thread(http_get, host_port)
            assert answer == f"code_node one {container_port}"
            # Applying the same generation again changes nothing.
            pid = app_pid(supervisor)
            await supervisor.apply([spec])
            await supervisor.settle(10)
            assert app_pid(supervisor) == pid and len(reports) == 3
        finally:
            await supervisor.close()

    run(main)
    folder = tmp_path / "apps" / IID
    assert (folder / "gen-1" / "code_node" / "panorama" / "application.py").is_file()
    assert (tmp_path / "apps" / "assets" / asset["sha256"]).is_file()
    log = (folder / "logs" / "console_output.log").read_text()
    assert "code_node one is up" in log
    state = tmp_path / "apps" / "state.json"
    assert oct(state.stat().st_mode & 0o777) == "0o600"  # it holds the runtime role
    assert json.loads(state.read_text())["instances"][IID]["generation"] == 1
    assert (folder / "storage" / "terminated.log").read_text() == "one\n"  # SIGTERM reached it


def test_environment_and_panorama_paths_without_a_sandbox(tmp_path, server):
    spec = make_spec(1, [code_node(server.add(container()))],
                     environment={"APP_MODE": "probe", "SECRET": "s3"})  # fmt: skip
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports, aws_region="eu-west-1")
        try:
            await supervisor.apply([spec])
            await supervisor.settle(30)
            probe = tmp_path / "apps" / IID / "storage" / "probe.json"
            await eventually(probe.exists, 10)
        finally:
            await supervisor.close()

    run(main)
    result = json.loads((tmp_path / "apps" / IID / "storage" / "probe.json").read_text())
    assert result["env"] == {"AWS_REGION": "eu-west-1", "PYTHONUNBUFFERED": "1", "SECRET": "s3"}


def test_an_invalid_spec_is_an_install_error(tmp_path, server):
    reports = Reports()
    document = {"application_instance_id": IID, "name": "x", "generation": 2,
                "nodes": [{"name": "n", "kind": "robot"}]}  # fmt: skip

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        await supervisor.apply_documents([document])
        await supervisor.settle(10)
        await supervisor.close()

    run(main)
    assert reports.statuses() == ["INSTALL_ERROR"]
    assert reports.last()["generation"] == 2
    assert reports.last()["message"].startswith("The application's specification is invalid: ")
    assert "nodes.0.kind" in reports.last()["message"]
