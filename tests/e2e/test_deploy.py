"""Deployments carried out by a real agent: the inbound_network-shaped code-only application."""

from __future__ import annotations

import pytest

from tests.support.appliances import provisioned_agent, refreshed
from tests.support.deploy import instance_state
from tests.support.ports import free_host_port
from tests.support.waiting import http_get, wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def deploy(device, host_port: int, name: str = "inbound", **extra):
    from applications import deployments
    from tests.support.deploy import inbound_network_app

    graph, override = inbound_network_app(host_port)
    return deployments.request_deployment(
        name=name, device=refreshed(device), manifest_text=graph, overrides_text=override, **extra
    )


@pytest.fixture
def code_package(live_stack):
    from tests.support.deploy import register_inbound_network_package

    return register_inbound_network_package()


def test_a_code_only_app_runs_and_answers_on_its_confirmed_host_port(
    make_agent, live_stack, code_package
):
    device, _agent = provisioned_agent(make_agent, "deploy-1", live_stack.url)
    host_port = free_host_port()
    instance = deploy(device, host_port)
    wait_for(
        lambda: instance_state(instance) == ("DEPLOYMENT_SUCCEEDED", "RUNNING"),
        120,
        "DEPLOYMENT_SUCCEEDED / RUNNING",
    )
    statuses = list(instance.events.values_list("status", flat=True))
    assert statuses[:2] == ["DEPLOYMENT_PENDING", "DEPLOYMENT_REQUESTED"]
    assert statuses[-1] == "DEPLOYMENT_SUCCEEDED"
    assert instance.status_description == "Application deployed successfully."
    assert instance.node_instances.get().current_status == "RUNNING"
    text = wait_for(lambda: http_get(host_port), 30, "the app to answer on its host port")
    assert text.startswith("hello from inbound_network_code")


def test_deploying_to_an_offline_device_waits_and_completes_when_it_returns(
    make_agent, live_stack, code_package
):
    device, agent = provisioned_agent(make_agent, "deploy-2", live_stack.url)
    agent.stop()
    wait_for(lambda: refreshed(device).aggregated == "OFFLINE", 30, "OFFLINE")
    instance = deploy(device, free_host_port())
    wait_for(
        lambda: (
            "Waiting for device deploy-2"
            in (instance.refresh_from_db() or instance.status_description)
        ),
        60,
        "the waiting description",
    )
    assert instance.status == "DEPLOYMENT_REQUESTED"
    agent.start()
    wait_for(
        lambda: instance_state(instance) == ("DEPLOYMENT_SUCCEEDED", "RUNNING"),
        120,
        "the deployment to complete once the device is back",
    )


def test_remove_replace_and_clone(make_agent, live_stack, code_package):
    from applications import deployments

    device, _agent = provisioned_agent(make_agent, "deploy-3", live_stack.url)
    first_port = free_host_port()
    first = deploy(device, first_port, name="first")
    wait_for(lambda: instance_state(first)[0] == "DEPLOYMENT_SUCCEEDED", 120, "first deployed")
    wait_for(lambda: http_get(first_port), 30, "first answering")

    # Clone: a second instance from the same configuration, on another host port; both run.
    clone_port = free_host_port()
    clone = deploy(device, clone_port, name="clone")
    wait_for(lambda: instance_state(clone)[0] == "DEPLOYMENT_SUCCEEDED", 120, "clone deployed")
    # RUNNING means the process started; its server binds a moment later.
    wait_for(lambda: http_get(clone_port), 30, "the clone answering")
    assert http_get(first_port)

    # Replace, on the same host port: the old one leaves, the new one takes the port over.
    replacement = deploy(device, first_port, name="first-v2", replaces=first)
    wait_for(lambda: instance_state(first)[0] == "REMOVAL_SUCCEEDED", 120, "old one removed")
    wait_for(lambda: instance_state(replacement)[0] == "DEPLOYMENT_SUCCEEDED", 120, "replacement")
    assert instance_state(replacement)[1] == "RUNNING"
    wait_for(lambda: http_get(first_port), 30, "the replacement answering on the port")

    # Remove.
    deployments.remove(clone)
    wait_for(lambda: instance_state(clone)[0] == "REMOVAL_SUCCEEDED", 120, "clone removed")
    wait_for(lambda: http_get(clone_port) is None, 30, "the clone's port to close")


def test_a_camera_node_on_signal_starts_paused_and_follows_pause_and_resume(
    make_agent, live_stack, code_package, rtsp_server
):
    from applications import deployments
    from tests.support.deploy import camera_app, register_camera

    register_camera("front_door", rtsp_server.url("auth"), rtsp_server.user, rtsp_server.password)
    device, agent = provisioned_agent(make_agent, "deploy-4", live_stack.url)
    graph, override = camera_app(["front_door"], free_host_port(), paused=["front_door"])
    instance = deployments.request_deployment(
        name="camera-app", device=refreshed(device), manifest_text=graph, overrides_text=override
    )

    def camera_status() -> str:
        instance.refresh_from_db()
        return instance.node_instances.get(node_instance_id="front_door").current_status

    wait_for(lambda: instance_state(instance)[0] == "DEPLOYMENT_SUCCEEDED", 120, "deployed")
    wait_for(lambda: camera_status() == "PAUSED", 60, "onSignal to start PAUSED")
    deployments.signal_nodes(instance, [("front_door", "RESUME")])
    wait_for(lambda: camera_status() == "RUNNING", 60, "RESUME to start the stream")
    deployments.signal_nodes(instance, [("front_door", "PAUSE")])
    wait_for(lambda: camera_status() == "PAUSED", 60, "PAUSE to stop it")
    # The camera's password went to the appliance only inside its link: never into its files.
    for path in agent.data_dir.rglob("*"):
        if path.is_file() and path.suffix in {".log", ".json", ".txt"}:
            assert rtsp_server.password not in path.read_text(errors="replace"), path
    assert rtsp_server.password not in agent.log()
