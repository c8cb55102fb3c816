"""Fault drills of issue #20 on the whole stack with a real appliance: the agent killed -9
mid-deploy, the ASGI server killed -9 mid-deploy, the link frozen by a proxy that keeps its
connections open, and the camera gone and back. Each ends in a terminal, truthful state with
nothing lost, and prints its recovery time (``[drill] …``; the issue note quotes them).

The broker and worker drills are in test_faults_deploy.py, the full-disk drills in
test_faults_disk.py.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from tests.support.appliances import provisioned_agent, refreshed, wait_online
from tests.support.deploy import instance_state
from tests.support.ports import free_host_port
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import http_get, http_ok, wait_for

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# How long the link stays frozen: five leases in CI (DEVICE_LEASE_S is 4 s in tests); the
# issue's drill froze it 60 s (FAULT_FREEZE_S=60 does that).
FREEZE_S = float(os.environ.get("FAULT_FREEZE_S", "20"))
SUCCEEDED = ("DEPLOYMENT_SUCCEEDED", "RUNNING")


def recovered(name: str, since: float) -> float:
    took = time.monotonic() - since
    print(f"[drill] {name}: recovered in {took:.1f} s")
    return took


def deploy_inbound(device, host_port: int, name: str):
    from applications import deployments
    from tests.support.deploy import inbound_network_app

    graph, override = inbound_network_app(host_port)
    return deployments.request_deployment(
        name=name, device=refreshed(device), manifest_text=graph, overrides_text=override
    )


@pytest.fixture
def code_package(live_stack):
    from tests.support.deploy import register_inbound_network_package

    return register_inbound_network_package()


def test_an_agent_killed_mid_download_completes_the_deployment_once_it_is_back(
    make_agent, live_stack, console_proxy, code_package
):
    device, agent = provisioned_agent(make_agent, "drill-agent", console_proxy.url)
    # The path goes silent as the agent asks for the app's first asset: it is mid-install.
    console_proxy.freeze_when = lambda data: b"GET /agent/v1/assets/" in data
    host_port = free_host_port()
    instance = deploy_inbound(device, host_port, "drill-agent-app")
    wait_for(lambda: console_proxy.frozen, 60, "the asset download to start")
    agent.kill9()
    console_proxy.freeze_when = None
    console_proxy.thaw()
    assert instance_state(instance)[0] != "DEPLOYMENT_SUCCEEDED"
    since = time.monotonic()
    agent.start()
    wait_for(lambda: instance_state(instance) == SUCCEEDED, 120, "the deployment to complete")
    recovered("agent kill -9 mid-download", since)
    text = wait_for(lambda: http_get(host_port), 30, "the app to answer on its port")
    assert text.startswith("hello from inbound_network_code")
    assert instance.node_instances.get().current_status == "RUNNING"


def test_the_console_server_killed_mid_deploy_is_restarted_and_the_deployment_completes(
    make_agent, live_stack, code_package
):
    device, _agent = provisioned_agent(make_agent, "drill-web", live_stack.url)
    launcher = psutil.Process(live_stack.process.pid)

    def web_server() -> psutil.Process | None:
        for child in launcher.children(recursive=True):
            try:
                if "uvicorn" in " ".join(child.cmdline()):
                    return child
            except psutil.Error:  # one that just ended (a zombie until reaped)
                continue
        return None

    web = web_server()
    assert web is not None
    host_port = free_host_port()
    instance = deploy_inbound(device, host_port, "drill-web-app")
    os.kill(web.pid, signal.SIGKILL)
    since = time.monotonic()
    wait_for(lambda: (w := web_server()) is not None and w.pid != web.pid, 30, "a new server")
    wait_for(lambda: http_ok(f"{live_stack.url}/healthz"), 60, "the console to answer again")
    wait_for(lambda: instance_state(instance) == SUCCEEDED, 120, "the deployment to complete")
    recovered("ASGI server kill -9 mid-deploy", since)
    wait_online(device)
    assert wait_for(lambda: http_get(host_port), 30, "the app to answer")


def test_a_frozen_link_leaves_the_device_offline_and_a_deploy_made_meanwhile_completes(
    make_agent, live_stack, console_proxy, code_package
):
    device, agent = provisioned_agent(make_agent, "drill-frozen", console_proxy.url)
    running = deploy_inbound(device, free_host_port(), "drill-frozen-running")
    wait_for(lambda: instance_state(running) == SUCCEEDED, 120, "the first app to run")
    console_proxy.freeze()
    frozen_at = time.monotonic()
    wait_for(lambda: refreshed(device).aggregated == "OFFLINE", 30, "the device to go OFFLINE")
    # Nobody hears from the appliance: its app is not shown as healthy any more.
    wait_for(
        lambda: instance_state(running) == ("DEPLOYMENT_SUCCEEDED", "NOT_AVAILABLE"),
        10,
        "the app's health to be unknown",
    )
    assert "is offline" in running.status_description
    host_port = free_host_port()
    instance = deploy_inbound(device, host_port, "drill-frozen-app")
    wait_for(
        lambda: "Waiting for device drill-frozen" in (
            instance.refresh_from_db() or instance.status_description
        ),
        60,
        "the deployment to wait for the device",
    )  # fmt: skip
    # No silent success meanwhile: nothing reached the device.
    assert instance.status == "DEPLOYMENT_REQUESTED"
    wait_for(
        lambda: time.monotonic() - frozen_at >= FREEZE_S or None,
        FREEZE_S + 5,
        "the freeze to last",
    )
    console_proxy.thaw()
    since = time.monotonic()
    wait_for(lambda: instance_state(instance) == SUCCEEDED, 120, "the deployment to complete")
    recovered(f"link frozen {FREEZE_S:g} s", since)
    assert wait_for(lambda: http_get(host_port), 30, "the app to answer")
    # The agent reported the first app again once it was back: healthy, as it was all along.
    wait_for(lambda: instance_state(running) == SUCCEEDED, 30, "the first app's health again")
    assert running.status_description == "Application deployed successfully."
    assert "No answer from the console" in agent.log()


def test_a_camera_gone_and_back_shows_an_error_and_runs_again_by_itself(
    make_agent, live_stack, code_package, rtsp_server
):
    from applications import deployments
    from tests.support.deploy import camera_app, register_camera

    camera_path = TcpProxy("127.0.0.1", rtsp_server.port)
    try:
        url = f"rtsp://127.0.0.1:{camera_path.port}/auth"
        register_camera("drill_cam", url, rtsp_server.user, rtsp_server.password)
        device, _agent = provisioned_agent(make_agent, "drill-camera", live_stack.url)
        graph, override = camera_app(["drill_cam"], free_host_port())
        instance = deployments.request_deployment(
            name="drill-camera-app",
            device=refreshed(device),
            manifest_text=graph,
            overrides_text=override,
        )

        def camera() -> tuple[str, str]:
            node = instance.node_instances.get(node_instance_id="drill_cam")
            return node.current_status, node.message

        wait_for(lambda: instance_state(instance) == SUCCEEDED, 120, "deployed")
        wait_for(lambda: camera()[0] == "RUNNING", 60, "the camera to run")
        camera_path.cut()
        wait_for(lambda: camera()[0] == "ERROR", 60, "the camera node to show its error")
        assert camera()[1], "an error without a reason"
        assert instance_state(instance)[0] == "DEPLOYMENT_SUCCEEDED"
        camera_path.restore()
        since = time.monotonic()
        wait_for(lambda: camera()[0] == "RUNNING", 90, "the camera to run again")
        recovered("camera gone and back", since)
        assert instance_state(instance) == SUCCEEDED
    finally:
        camera_path.close()
