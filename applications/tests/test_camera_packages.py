"""An application's own camera packages: an RTSP camera with its stream and credentials as input
defaults (stored encrypted, never shown), and panorama-cli's file source."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from applications import deployments, tasks
from applications.models import NodeInstance
from applications.resolve import DeployRefused
from core import crypto
from devices.desired import build_desired
from tests.support.deploy import (
    CLI_RESOURCES,
    OWN_CAMERA,
    PACKAGE_PASSWORD,
    account,
    camera_override,
    inbound_network_app,
    own_camera_graph,
    own_camera_package,
    register_camera,
    register_own_package,
)
from tests.support.paths import MEDIA_DIR

pytestmark = pytest.mark.django_db

CLI = CLI_RESOURCES
PASSWORD = PACKAGE_PASSWORD
CAMERA = OWN_CAMERA
FILES = "lobby_files"


def ports_only_override() -> str:
    """No node override: only the confirmation of the code node's container port."""
    return inbound_network_app()[1]


def deploy(device, graph: dict | str, override: str | None = None):
    instance = deployments.request_deployment(
        name="own-camera",
        device=device,
        manifest_text=graph if isinstance(graph, str) else json.dumps(graph),
        overrides_text=ports_only_override() if override is None else override,
    )
    assert tasks.deploy_instance(instance.pk) == "requested"
    instance.refresh_from_db()
    return instance


def desired_stream(device, node: str = "camera_node") -> dict:
    device.refresh_from_db()
    [spec] = build_desired(device).model_dump(mode="json")["applications"]
    return next(n for n in spec["nodes"] if n["name"] == node)["stream"]


# --- registering: the credentials leave the stored text, encrypted -------------------------------


def test_a_camera_packages_credentials_are_stored_encrypted_only(app, viewer_client):
    manifest = own_camera_package("rtsp://10.0.0.9:8554/live")
    registered = register_own_package(CAMERA, manifest)
    patch = registered.patch
    assert patch.patch == hashlib.sha256(manifest).hexdigest()  # still the bytes' sha256
    assert PASSWORD not in patch.manifest_text
    interface = patch.interfaces.get()
    assert interface.category == "MEDIA_SOURCE"
    defaults = {port["name"]: port["default"] for port in interface.inputs}
    assert defaults == {
        "username": "SAVED_AS_SECRET",
        "password": "SAVED_AS_SECRET",
        "streamUrl": "rtsp://10.0.0.9:8554/live",
    }
    assert crypto.decrypt(interface.stream_username_encrypted) == "cam"
    assert crypto.decrypt(interface.stream_password_encrypted) == PASSWORD
    assert not register_own_package(CAMERA, manifest).created  # the same bytes: the same patch
    package = patch.package_version.package
    for url in (f"/packages/{package.pk}/", f"/api/packages/{package.pk}/", "/api/nodes/"):
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        assert PASSWORD not in response.content.decode(), url


def test_credentials_typed_into_the_stream_url_are_moved_out_of_it(app):
    manifest = own_camera_package("rtsp://door:Url-pass-83@10.0.0.9/live", username="", password="")
    interface = register_own_package(CAMERA, manifest).patch.interfaces.get()
    defaults = {port["name"]: port["default"] for port in interface.inputs}
    assert defaults["streamUrl"] == "rtsp://10.0.0.9/live"
    assert "Url-pass-83" not in interface.patch.manifest_text
    assert crypto.decrypt(interface.stream_password_encrypted) == "Url-pass-83"
    assert crypto.decrypt(interface.stream_username_encrypted) == "door"


def test_a_data_sources_camera_package_is_kept_byte_for_byte(app):
    from applications.camera_packages import camera_package_json
    from applications.models import PatchVersion

    source = register_camera("front_door", "rtsp://10.0.0.5/stream1", "cam", "Door-pass-1")
    patch = PatchVersion.objects.get(package_version__package__name="front_door")
    assert patch.manifest_text.encode() == camera_package_json(source)
    assert patch.interfaces.get().stream_password_encrypted == ""


# --- deploying: the node opens its own stream, without an override -------------------------------


def test_an_own_camera_deploys_without_an_override_and_opens_its_stream(device, app, viewer_client):
    register_own_package(CAMERA, own_camera_package("rtsp://10.0.0.9:8554/live"))
    instance = deploy(device, own_camera_graph())
    assert instance.status == "DEPLOYMENT_REQUESTED"
    camera = NodeInstance.objects.get(instance=instance, node_instance_id="camera_node")
    assert camera.kind == "camera" and camera.stream_url == "rtsp://10.0.0.9:8554/live"
    assert camera.stream_credentials() == ("cam", PASSWORD)
    assert desired_stream(device) == {
        "url": "rtsp://10.0.0.9:8554/live",
        "username": "cam",
        "password": PASSWORD,
        "sealed": "",
        "files": [],
        "loop_count": 0,
        "fps": 0.0,
    }
    # Nowhere else in clear: the stored spec, the API, the console's pages.
    assert PASSWORD not in json.dumps(instance.spec)
    api = f"/api/application-instances/{instance.application_instance_id}/"
    for url in (api, f"/applications/{instance.application_instance_id}/", "/applications/"):
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        assert PASSWORD not in response.content.decode(), url


def test_parameters_wired_to_the_camera_inputs_win_over_its_defaults(device, app):
    register_own_package(CAMERA, own_camera_package("rtsp://10.0.0.9/live"))
    graph = own_camera_graph()
    graph["nodeGraph"]["nodes"] += [
        {"name": "cam_url", "interface": "string", "value": "rtsp://10.0.0.77/other"},
        {"name": "cam_user", "interface": "string", "value": "param-user"},
        {"name": "cam_pass", "interface": "string", "value": "Param-pass-19"},
    ]
    graph["nodeGraph"]["edges"] += [
        {"producer": "cam_url", "consumer": "camera_node.streamUrl"},
        {"producer": "cam_user", "consumer": "camera_node.username"},
        {"producer": "cam_pass", "consumer": "camera_node.password"},
    ]
    instance = deploy(device, graph)
    stream = desired_stream(device)
    assert (stream["url"], stream["username"], stream["password"]) == (
        "rtsp://10.0.0.77/other",
        "param-user",
        "Param-pass-19",
    )
    # A parameter that only carries the camera's credentials is not kept in the spec in clear.
    assert "Param-pass-19" not in json.dumps(instance.spec)


def test_the_cli_placeholder_url_is_refused_with_what_to_do(device, app):
    register_own_package(CAMERA, (CLI / "camera_package.json").read_bytes())
    with pytest.raises(DeployRefused) as refused:
        deploy(device, own_camera_graph())
    [error] = refused.value.errors
    assert error.document == "manifest"
    assert error.message.startswith(
        "Camera node camera_node: streamUrl's default is still panorama-cli's placeholder "
        "'rtsp://<stream url>'"
    )


def test_an_own_camera_replaced_by_a_data_source_uses_the_data_source(device, app):
    register_own_package(CAMERA, own_camera_package("rtsp://10.0.0.9/live"))
    register_camera("front_door", "rtsp://10.0.0.5/stream1", "door", "Door-pass-1")
    graph = own_camera_graph(overridable=True)
    override = camera_override(["front_door"])
    deploy(device, graph, json.dumps(override))
    stream = desired_stream(device, "front_door")
    assert (stream["url"], stream["password"]) == ("rtsp://10.0.0.5/stream1", "Door-pass-1")


def test_an_abstract_camera_replaced_by_an_own_camera_node(device, app):
    from tests.support.deploy import camera_graph

    register_own_package(CAMERA, own_camera_package("rtsp://10.0.0.9/live"))
    override = camera_override([], 8081)
    body = override["nodeGraphOverrides"]
    body["packages"] = [{"name": f"{account()}::{CAMERA}", "version": "1.0"}]
    body["nodes"] = [{"name": "lobby", "interface": f"{account()}::{CAMERA}.rtsp_interface"}]
    body["nodeOverrides"] = [{"replace": "camera_node", "with": [{"name": "lobby"}]}]
    deploy(device, json.dumps(camera_graph()), json.dumps(override))
    stream = desired_stream(device, "lobby")
    assert (stream["url"], stream["username"], stream["password"]) == (
        "rtsp://10.0.0.9/live",
        "cam",
        PASSWORD,
    )


# --- panorama-cli's file source ----------------------------------------------------------------


def file_package(source_names, loop_count=2, fps=5) -> bytes:
    document = json.loads((CLI / "video_from_file_package/package.json").read_text())
    inputs = document["nodePackage"]["interfaces"][0]["inputs"]
    inputs[0]["default"] = source_names
    inputs[1]["default"], inputs[2]["default"] = loop_count, fps
    return json.dumps(document).encode()


@pytest.fixture
def media(settings):
    settings.TEST_MEDIA_DIRS = [str(MEDIA_DIR)]
    return MEDIA_DIR


def test_a_file_source_plays_its_videos_from_the_media_folders(device, app, media):
    video = str(media / "pedestrians.mp4")
    register_own_package(FILES, file_package([video, f"file://{video}"]))
    graph = own_camera_graph(FILES, "default")
    graph["nodeGraph"]["edges"][0]["producer"] = "camera_node.videoOut"
    instance = deploy(device, graph)
    assert desired_stream(device) == {
        "url": f"file://{video}",
        "username": "",
        "password": "",
        "sealed": "",
        "files": [f"file://{video}", f"file://{video}"],
        "loop_count": 2,
        "fps": 5.0,
    }
    assert instance.node_instances.get(node_instance_id="camera_node").kind == "camera"


def test_a_parameter_wired_to_loop_count_and_fps_sets_them(device, app, media):
    register_own_package(FILES, file_package([str(media / "pedestrians.mp4")]))
    graph = own_camera_graph(FILES, "default")
    graph["nodeGraph"]["edges"][0]["producer"] = "camera_node.videoOut"
    graph["nodeGraph"]["nodes"] += [
        {"name": "loops", "interface": "int32", "value": 7},
        {"name": "rate", "interface": "float32", "value": 12.5},
    ]
    graph["nodeGraph"]["edges"] += [
        {"producer": "loops", "consumer": "camera_node.loopCount"},
        {"producer": "rate", "consumer": "camera_node.fps"},
    ]
    deploy(device, graph)
    stream = desired_stream(device)
    assert (stream["loop_count"], stream["fps"]) == (7, 12.5)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (
            ["/etc/passwd.mp4"],
            "Camera node camera_node: sourceNames[0] '/etc/passwd.mp4': Recorded test videos "
            "must be in one of the media folders: {media} (TEST_MEDIA_DIRS).",
        ),
        (
            ["pedestrians.mp4"],
            "Camera node camera_node: sourceNames[0] 'pedestrians.mp4' is not an absolute path: "
            "give the video's full path (or a file:/// URL) in one of the media folders",
        ),
        (
            [],
            "Camera node camera_node: sourceNames names no video: give the videos' absolute "
            "paths as the default of sourceNames in its package.json, e.g. "
            '["/srv/vantage/media/lobby.mp4"]',
        ),
    ],
)
def test_file_source_videos_outside_the_media_folders_are_refused(
    device, app, media, names, message
):
    register_own_package(FILES, file_package(names))
    graph = own_camera_graph(FILES, "default")
    graph["nodeGraph"]["edges"][0]["producer"] = "camera_node.videoOut"
    with pytest.raises(DeployRefused) as refused:
        deploy(device, graph)
    assert [e.message for e in refused.value.errors] == [message.format(media=media.resolve())]


def test_an_override_parameter_cannot_make_loop_count_negative(device, app, media):
    register_own_package(FILES, file_package([str(media / "pedestrians.mp4")]))
    graph = own_camera_graph(FILES, "default")
    graph["nodeGraph"]["edges"][0]["producer"] = "camera_node.videoOut"
    graph["nodeGraph"]["nodes"].append(
        {"name": "loops", "interface": "int32", "value": 1, "overridable": True}
    )
    graph["nodeGraph"]["edges"].append({"producer": "loops", "consumer": "camera_node.loopCount"})
    override = json.loads(ports_only_override())
    body = override["nodeGraphOverrides"]
    body["nodes"] = [{"name": "fewer", "interface": "int32", "value": -1}]
    body["nodeOverrides"] = [{"replace": "loops", "with": [{"name": "fewer"}]}]
    with pytest.raises(DeployRefused) as refused:
        deploy(device, graph, json.dumps(copy.deepcopy(override)))
    assert [e.message for e in refused.value.errors] == [
        "Camera node camera_node: loopCount -1 is not a whole number of at least 0 (0 plays "
        "the videos in a loop forever, N plays them N times)"
    ]
