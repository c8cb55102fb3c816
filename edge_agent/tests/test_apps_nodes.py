"""Nodes: code node entries, crash loops, stopping, inbound ports, camera nodes and the nodes
of the edge runtime. Real processes, files and HTTP, as in test_apps.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from pathlib import Path
from typing import Any

import psutil
import pytest

from devicelink.apps import ApplicationSpec
from edge_agent.apps import RestartPolicy
from edge_agent.apps.sandbox import probe_support
from edge_agent.runtime.ring import FrameRing
from tests.support.agents import (
    IID,
    MEDIA,
    AssetServer,
    Reports,
    app_pid,
    code_node,
    container,
    make_spec,
    make_supervisor,
    run,
)
from tests.support.onnx_models import classifier, make_archive
from tests.support.ports import free_port
from tests.support.waiting import eventually, http_get

OTHER = "applicationInstance-0000000000000000000000othr"


def test_a_bash_entry_with_arguments_and_environment(tmp_path, server):
    script = 'echo "$1 $GREETING $PWD" > "$PANORAMA_STORAGE_DIR/said"\nexec sleep 600\n'
    asset = server.add(
        container(script, "/panorama/run.sh", path="bash", arguments=["hello"],
                  environment=[{"name": "GREETING", "value": "world"}])
    )  # fmt: skip
    reports = Reports()
    said = tmp_path / "apps" / IID / "storage" / "said"

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([make_spec(1, [code_node(asset)])])
            await supervisor.settle(30)
            await eventually(said.exists, 10)
        finally:
            await supervisor.close()

    run(main)
    code = tmp_path / "apps" / IID / "gen-1" / "code_node" / "panorama"
    assert said.read_text() == f"hello world {code}\n"  # unsandboxed: the real code folder


def test_a_missing_entry_is_a_launch_error(tmp_path, server):
    asset = server.add(container(name="/panorama/app.py"))  # the file is application.py
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        await supervisor.apply([make_spec(1, [code_node(asset)])])
        await supervisor.settle(30)
        await supervisor.close()

    run(main)
    assert reports.statuses() == ["INSTALL_IN_PROGRESS", "STARTING", "LAUNCH_ERROR"]
    assert reports.last()["message"] == (
        "code_node: the entry /panorama/app.py is not in the container asset"
    )


def test_a_crash_loop_puts_the_node_in_error(tmp_path, server):
    spec = make_spec(1, [code_node(server.add(container()))], environment={"APP_MODE": "crash"})
    reports = Reports()
    figures: dict = {}

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([spec])
            await supervisor.settle(30)
            await eventually(lambda: reports.node("code_node")["status"] == "ERROR", 20)
            figures.update(supervisor.metrics())
        finally:
            await supervisor.close()

    run(main)
    node = reports.node("code_node")
    assert node["message"] == (
        "exited with status 3 5 times in 60 s; last error output: boom: the model is missing"
    )
    # Each exit is an application error on the Errors chart, though none printed a traceback.
    assert figures[IID]["code_node"]["errors"] == 5
    assert reports.last()["status"] == "RUNNING"  # the instance runs; its health is an error
    assert reports.last()["message"] == f"code_node: {node['message']}"
    log = (tmp_path / "apps" / IID / "logs" / "console_output.log").read_text()
    assert log.count("starting up") == 5  # the fifth quick crash is the last


def test_stop_kills_an_application_that_ignores_sigterm(tmp_path, server):
    spec = make_spec(1, [code_node(server.add(container()))], environment={"APP_MODE": "stubborn"})
    reports = Reports()
    policy = RestartPolicy(backoff_base_s=0.01, stop_timeout_s=0.5)

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports, policy=policy)
        await supervisor.apply([spec])
        await supervisor.settle(30)
        storage = tmp_path / "apps" / IID / "storage"
        await eventually(lambda: (storage / "starts.log").exists(), 10)
        pid = app_pid(supervisor)
        await supervisor.close()
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"

    run(main)


ROOT = probe_support().can_unshare_net  # a root agent where namespaces can be made
NETWORKS = [
    pytest.param(False, id="host-network"),
    pytest.param(
        None, id="own-netns", marks=pytest.mark.skipif(not ROOT, reason="needs a root agent")
    ),
]


@pytest.mark.parametrize("own_netns", NETWORKS)
def test_forwarder_answers_only_on_confirmed_ports(tmp_path, server, own_netns):
    served, unconfirmed_host = free_port(), free_port()
    host_port = free_port()
    spec = make_spec(
        1, [code_node(server.add(container()))], environment={"APP_PORTS": str(served)},
        network_routing_rules=[{"node": "code_node", "container_port": served,
                                "host_port": host_port}],
    )  # fmt: skip
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports, own_netns=own_netns)
        try:
            await supervisor.apply([spec])
            await supervisor.settle(30)
            await eventually(lambda: (tmp_path / "apps" / IID / "storage" / "starts.log").exists())
            answer = await asyncio.to_thread(http_get, host_port)
            assert answer == f"code_node  {served}"
            assert await asyncio.to_thread(http_get, unconfirmed_host) is None
            # On the host's network the application's own port answers too (only isolation
            # prevents that); in its own namespace it does not.
            direct = await asyncio.to_thread(http_get, served)
            assert direct == (answer if own_netns is False else None)
        finally:
            await supervisor.close()
        assert await asyncio.to_thread(http_get, host_port) is None  # closed with the app

    run(main)


@pytest.mark.skipif(not ROOT, reason="a network namespace per node needs a root agent")
def test_two_unsandboxed_instances_serve_on_the_same_container_port(tmp_path, server):
    asset = server.add(container())
    port = free_port()  # the container port of both, as two clones of one application have
    hosts = {IID: free_port(), OTHER: free_port()}

    def spec(iid: str, host: int) -> ApplicationSpec:
        rule = {"node": "code_node", "container_port": port, "host_port": host}
        env = {"APP_PORTS": str(port), "APP_LABEL": iid[-4:]}
        return make_spec(1, [code_node(asset)], iid=iid, environment=env,
                         network_routing_rules=[rule])  # fmt: skip

    specs = [spec(iid, host) for iid, host in hosts.items()]
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply(specs)
            await supervisor.settle(30)
            for iid in hosts:
                started = tmp_path / "apps" / iid / "storage" / "starts.log"
                await eventually(started.exists)
            for iid, host in hosts.items():
                assert await asyncio.to_thread(http_get, host) == f"code_node {iid[-4:]} {port}"
        finally:
            await supervisor.close()

    run(main)
    assert all(reports.node("code_node", iid)["status"] == "RUNNING" for iid in hosts)


def test_a_taken_host_port_is_a_launch_error(tmp_path, server):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # noqa: S104
        taken.listen()
        port = taken.getsockname()[1]
        spec = make_spec(
            1, [code_node(server.add(container()))],
            network_routing_rules=[{"node": "code_node", "container_port": free_port(),
                                    "host_port": port}],
        )  # fmt: skip
        reports = Reports()

        async def main() -> None:
            supervisor = make_supervisor(tmp_path, server, reports, port_wait_s=0.3)
            await supervisor.apply([spec])
            await supervisor.settle(30)
            assert app_pid(supervisor) is None  # the started node was stopped again
            await supervisor.close()

        run(main)
    assert reports.last()["status"] == "LAUNCH_ERROR"
    assert reports.last()["message"].startswith(f"code_node: host port {port} cannot be opened")


def test_a_host_port_given_back_a_moment_later_is_taken(tmp_path):
    # A replacement starts while the instance it replaces is still giving its port back.
    from edge_agent.apps.forward import PortForwarder

    async def main() -> None:
        held = socket.socket()
        held.bind(("0.0.0.0", 0))  # noqa: S104
        held.listen()
        port = held.getsockname()[1]
        forwarder = PortForwarder("code_node", port, free_port(), None, host="0.0.0.0")  # noqa: S104
        starting = asyncio.create_task(forwarder.start(wait_s=10))
        await asyncio.sleep(0.3)
        assert not starting.done()
        held.close()
        await asyncio.wait_for(starting, 5)
        await forwarder.stop()

    run(main)


# --- camera, model and display nodes ----------------------------------------------------------
def camera(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "camera", "stream": {"url": url, **extra.pop("creds", {})},
            **extra}  # fmt: skip


def closed_rtsp() -> str:
    return f"rtsp://127.0.0.1:{free_port()}/stream1"


def model_asset(server: AssetServer, tmp_path, model: bytes) -> dict[str, Any]:
    archive = make_archive(tmp_path / "model.tar.gz", model)
    descriptor = {
        "mlModelDescriptor": {
            "envelopeVersion": "2021-01-01",
            "framework": "PYTORCH",
            "inputs": [{"name": "data", "shape": [1, 3, 224, 224]}],
        }
    }
    return {"name": "model_asset", **server.add(archive.read_bytes()),
            "implementation_type": "model", "descriptor": descriptor}  # fmt: skip


def test_camera_model_and_display_nodes_run_and_follow_signals(tmp_path, server, caplog):
    if not MEDIA.is_file():
        pytest.skip(f"{MEDIA} (the shared test video) is not here")
    code = code_node(server.add(container()))
    model = {"name": "model_node", "kind": "model",
             "assets": [model_asset(server, tmp_path, classifier())]}  # fmt: skip
    nodes = [
        code,
        camera("front_door", f"file://{MEDIA}", launch="onSignal"),
        camera("back_door", closed_rtsp(), creds={"username": "cam", "password": "hunter2"}),
        model,
        {"name": "output_node", "kind": "display", "interface": "hdmi0",
         "inputs": [{"name": "video_in", "type": "media"}]},
    ]  # fmt: skip
    reports = Reports()

    def spec(generation: int, signal: str | None) -> ApplicationSpec:
        changed = [dict(nodes[1], signal=signal), *nodes[2:]]
        return make_spec(generation, [nodes[0], *changed])

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([spec(1, None)])
            await supervisor.settle(60)
            pid = app_pid(supervisor)
            assert reports.node("front_door")["status"] == "PAUSED"  # onSignal: waits
            # The camera's ring says so: its consumers leave the stream out of their batches.
            [folder] = Path("/dev/shm").glob(f"vantage-*-{IID}")  # noqa: S108
            ring = FrameRing.open(folder / "cam-front_door.ring")
            assert ring.paused
            await supervisor.apply([spec(2, "RESUME")])
            await eventually(lambda: reports.node("front_door")["status"] == "RUNNING", 30)
            assert not ring.paused

            def frames() -> int:
                return supervisor.metrics()[IID].get("front_door", {}).get("frames", 0)

            await eventually(lambda: frames() > 0, 10)
            await supervisor.apply([spec(3, "PAUSE")])
            await eventually(lambda: reports.node("front_door")["status"] == "PAUSED", 10)
            assert ring.paused
            await supervisor.settle(10)
            assert app_pid(supervisor) == pid  # signals do not redeploy
            assert supervisor.metrics()[IID]["model_node"]["providers"] == ["CPUExecutionProvider"]
        finally:
            await supervisor.close()

    run(main)
    first_running = next(r for r in reports if r["status"] == "RUNNING")
    assert first_running["generation"] == 1
    assert {n["name"]: n["status"] for n in first_running["nodes"]} == {
        "code_node": "RUNNING", "front_door": "PAUSED", "back_door": "ERROR",
        "model_node": "RUNNING", "output_node": "RUNNING",
    }  # fmt: skip
    nodes_now = {n["name"]: n for n in reports.last()["nodes"]}
    assert nodes_now["back_door"]["message"] == (
        "Failed to get SDP description: Connection to server failed: Connection refused (-111)"
    )
    assert nodes_now["model_node"]["message"].startswith("CPUExecutionProvider, FP32, ")
    assert reports.last()["generation"] == 3
    assert "hunter2" not in caplog.text and "hunter2" not in json.dumps(list(reports))
    # The runtime folder (rings and sockets in shared memory) goes with the instance's nodes.
    assert not list(Path("/dev/shm").glob(f"vantage-*-{IID}"))  # noqa: S108


def test_a_broken_model_is_a_launch_error(tmp_path, server):
    model = {"name": "model_node", "kind": "model",
             "assets": [{"name": "model_asset", **server.add(b"onnx bytes"),
                         "implementation_type": "model",
                         "descriptor": {"inputs": [{"name": "data", "shape": [1, 3]}]}}],
             }  # fmt: skip
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([make_spec(1, [code_node(server.add(container())), model])])
            await supervisor.settle(60)
        finally:
            await supervisor.close()

    run(main)
    assert reports.last()["status"] == "LAUNCH_ERROR"
    assert reports.last()["message"].startswith("model_node: ")
    staged = tmp_path / "apps" / IID / "gen-1" / "model_node" / "model_asset"
    assert staged.read_bytes() == b"onnx bytes"  # downloaded, verified and staged


def test_without_bubblewrap_the_agent_warns(tmp_path, server, caplog):
    spec = make_spec(1, [code_node(server.add(container()))])
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        await supervisor.apply([spec])
        await supervisor.settle(30)
        await supervisor.close()

    with caplog.at_level("WARNING", logger="edge_agent.apps"):
        run(main)
    assert "bubblewrap is not available: application people-counter runs without a sandbox." in (
        caplog.text
    )


def test_the_supervisor_leaves_no_process_behind(tmp_path, server):
    # Every test above closes its supervisor; this one checks that close() really ends them all.
    spec = make_spec(1, [code_node(server.add(container()), name="a"),
                         code_node(server.add(container()), name="b")])  # fmt: skip
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        await supervisor.apply([spec])
        await supervisor.settle(30)
        pids = [app_pid(supervisor, "a"), app_pid(supervisor, "b")]
        assert all(pids)
        log = tmp_path / "apps" / IID / "logs" / "console_output.log"
        await eventually(lambda: log.read_text().count("is up") == 2)
        await supervisor.close()
        for pid in pids:
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"

    run(main)
    log = (tmp_path / "apps" / IID / "logs" / "console_output.log").read_text()
    assert "[a] a  is up" in log and "[b] b  is up" in log


def test_a_killed_code_node_is_restarted_and_reported(tmp_path, server):
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(
            tmp_path, server, reports, policy=RestartPolicy(backoff_base_s=0.2)
        )
        try:
            await supervisor.apply([make_spec(1, [code_node(server.add(container()))])])
            await supervisor.settle(30)
            first = app_pid(supervisor)
            os.kill(first, signal.SIGKILL)
            await eventually(lambda: reports.node("code_node")["message"].startswith("restarted"))
            await eventually(lambda: app_pid(supervisor) not in (None, first))
            assert supervisor.metrics()[IID]["code_node"]["restarts"] == 1
        finally:
            await supervisor.close()

    run(main)
    node = reports.node("code_node")
    assert node == {
        "name": "code_node", "status": "RUNNING",
        "message": "restarted 1 time(s); it exited with status -9",
    }  # fmt: skip


def test_a_camera_node_follows_its_camera_going_away_and_coming_back(tmp_path, server):
    from tests.support.cameras import start_rtsp_server, stop_process

    rtsp = start_rtsp_server(tmp_path)
    nodes = [code_node(server.add(container())), camera("lobby", rtsp.url("open"))]
    reports = Reports()

    async def main() -> None:
        nonlocal rtsp
        supervisor = make_supervisor(tmp_path, server, reports, camera_timeout_s=2)
        try:
            await supervisor.apply([make_spec(1, nodes)])
            await supervisor.settle(30)
            await eventually(lambda: reports.node("lobby")["status"] == "RUNNING", 20)
            stop_process(rtsp.process)
            await eventually(lambda: reports.node("lobby")["status"] == "ERROR", 10)
            # The same camera comes back: frames again, without a redeploy.
            rtsp = await asyncio.to_thread(start_rtsp_server, tmp_path, rtsp.port)
            await eventually(lambda: reports.node("lobby")["status"] == "RUNNING", 30)
            assert reports.last()["generation"] == 1
        finally:
            await supervisor.close()
            stop_process(rtsp.process)

    run(main)
    errors = [
        n for r in reports for n in r["nodes"] if n["name"] == "lobby" and n["status"] == "ERROR"
    ]
    assert errors and errors[0]["message"], errors  # the reason, in words
