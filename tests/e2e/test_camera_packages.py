"""An application that brings its own camera package, deployed to a real agent: no override
names a camera, the node opens the stream of its package's defaults with their credentials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.appliances import provisioned_agent, refreshed
from tests.support.deploy import instance_state
from tests.support.ports import free_host_port
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def code_package(live_stack):
    from tests.support.deploy import register_inbound_network_package

    return register_inbound_network_package()


def test_an_own_camera_package_runs_on_its_own_url_with_its_credentials(
    make_agent, live_stack, code_package, rtsp_server
):
    from applications import deployments
    from tests.support.deploy import (
        OWN_CAMERA,
        inbound_network_app,
        own_camera_graph,
        own_camera_package,
        register_own_package,
    )

    manifest = own_camera_package(
        rtsp_server.url("auth"), username=rtsp_server.user, password=rtsp_server.password
    )
    register_own_package(OWN_CAMERA, manifest)
    device, agent = provisioned_agent(make_agent, "own-camera-1", live_stack.url)
    instance = deployments.request_deployment(
        name="own-camera",
        device=refreshed(device),
        manifest_text=json.dumps(own_camera_graph()),
        overrides_text=inbound_network_app(free_host_port())[
            1
        ],  # confirms the code node's port only
    )

    def camera():
        instance.refresh_from_db()
        return instance.node_instances.get(node_instance_id="camera_node")

    wait_for(lambda: instance_state(instance)[0] == "DEPLOYMENT_SUCCEEDED", 120, "deployed")
    # The camera node says RUNNING only once frames from the stream are in its ring: the server
    # answers the "auth" path only to the package's credentials.
    wait_for(lambda: camera().current_status == "RUNNING", 60, "the camera's frames")
    assert camera().stream_url == rtsp_server.url("auth")
    # The password reached the appliance only inside its link: never its files or its log.
    for path in agent.data_dir.rglob("*"):
        if path.is_file() and path.suffix in {".log", ".json", ".txt"}:
            assert rtsp_server.password not in path.read_text(errors="replace"), path
    assert rtsp_server.password not in agent.log()
    assert rtsp_server.password not in json.dumps(instance.spec)


def test_a_file_source_package_plays_its_videos_loop_count_times(
    make_agent, live_stack, code_package
):
    from django.conf import settings

    from applications import deployments
    from tests.support.deploy import (
        CLI_RESOURCES,
        inbound_network_app,
        own_camera_graph,
        register_own_package,
    )

    # The people counter's demo video: the checkout's samples/ is a default media folder.
    video = str(Path(settings.BASE_DIR) / "samples/people_counter/media/pedestrians.mp4")
    document = json.loads((CLI_RESOURCES / "video_from_file_package/package.json").read_text())
    inputs = document["nodePackage"]["interfaces"][0]["inputs"]
    inputs[0]["default"], inputs[1]["default"], inputs[2]["default"] = [video], 1, 50
    register_own_package("lobby_files", json.dumps(document).encode())
    graph = own_camera_graph("lobby_files", "default")
    graph["nodeGraph"]["edges"][0]["producer"] = "camera_node.videoOut"
    device, _agent = provisioned_agent(make_agent, "own-files-1", live_stack.url)
    instance = deployments.request_deployment(
        name="own-files",
        device=refreshed(device),
        manifest_text=json.dumps(graph),
        overrides_text=inbound_network_app(free_host_port())[1],
    )

    def camera():
        instance.refresh_from_db()
        return instance.node_instances.get(node_instance_id="camera_node")

    wait_for(lambda: instance_state(instance)[0] == "DEPLOYMENT_SUCCEEDED", 120, "deployed")
    # Played once (its 600 frames at 50 fps: 12 s), then it says so and stays up.
    wait_for(
        lambda: camera().message == "The recorded videos have played once (loopCount 1)",
        120,
        "the video to play out",
    )
    assert camera().current_status == "RUNNING"
