"""Deploying through the REST API: POST /api/application-instances/ takes what Panorama's
CreateApplicationInstance takes (ManifestPayload, ManifestOverridesPayload), answers every
payload error at its place, enforces the quotas with 402, and leads to the same deployment as
the wizard. Also following (GET), removing (DELETE) and pausing/resuming cameras (node-signals).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from applications import deployments
from applications.models import ApplicationInstance, RuntimeRole
from devices.desired import build_desired
from devices.models import Device
from tests.support.deploy import (
    ACCOUNT,
    API,
    PACKAGE,
    add_camera,
    body,
    camera_body,
    deploy,
    inbound_network_app,
    report,
    run_workflow,
    url,
)
from tests.support.devices import connected_device, make_device

pytestmark = pytest.mark.django_db
# --- deploy, follow -------------------------------------------------------------------------------


def test_deploy_then_follow_the_instance(operator_client, operator, app, device):
    role = RuntimeRole.objects.create(name="metrics")
    data = body(device, description="Answers HTTP", runtime_role="metrics", tags={"site": "hq"})
    response = deploy(operator_client, data)
    assert response.status_code == 201, response.content
    created = response.json()
    instance_id = created["application_instance_id"]
    assert instance_id.startswith("applicationInstance-")
    assert created["status"] == "DEPLOYMENT_PENDING"
    assert created["health_status"] == "NOT_AVAILABLE"
    assert created["status_description"] == "Deployment Workflow has been scheduled."
    assert (created["device"], created["runtime_role"], created["tags"]) == (
        device.device_id,
        "metrics",
        {"site": "hq"},
    )
    assert created["manifest_payload"] == data["manifest_payload"]  # byte for byte
    assert created["overrides_payload"] == data["manifest_overrides_payload"]
    assert created["node_instances"] == []  # known once the workflow validated it
    assert [event["status"] for event in created["events"]] == ["DEPLOYMENT_PENDING"]
    instance = ApplicationInstance.objects.get(application_instance_id=instance_id)
    assert (instance.created_by, instance.runtime_role) == (operator, role)

    instance = run_workflow(instance_id)
    response = operator_client.get(url(instance_id))
    assert response.status_code == 200
    shown = response.json()
    assert shown["status"] == "DEPLOYMENT_REQUESTED"
    assert shown["status_description"] == "Deployment Workflow has completed data validation."
    [node] = shown["node_instances"]
    assert node == {
        "node_instance_id": "code_node",
        "node_id": f"{PACKAGE}-1.0-{app[:8]}-code_interface",
        "package_name": PACKAGE,
        "package_version": "1.0",
        "patch_version": app,
        "node_name": "code_interface",
        "launch": "onAppStart",
        "signal": "",
        "current_status": "NOT_AVAILABLE",
        "message": "",
    }
    assert [event["status"] for event in shown["events"]] == [
        "DEPLOYMENT_PENDING",
        "DEPLOYMENT_REQUESTED",
    ]
    assert set(shown["events"][0]) == {"status", "health_status", "description", "time"}
    [spec] = build_desired(Device.objects.get(pk=device.pk)).model_dump(mode="json")["applications"]
    assert spec["application_instance_id"] == instance_id
    assert spec["network_routing_rules"] == [
        {"node": "code_node", "container_port": 8080, "host_port": 8081}
    ]

    # The device runs it: the API shows what it reported.
    report(device, instance, "RUNNING", [("code_node", "RUNNING", "")])
    shown = operator_client.get(url(instance_id)).json()
    assert (shown["status"], shown["health_status"]) == ("DEPLOYMENT_SUCCEEDED", "RUNNING")
    assert shown["reported_status"] == "RUNNING"
    assert shown["node_instances"][0]["current_status"] == "RUNNING"
    assert shown["events"][-1]["status"] == "DEPLOYMENT_SUCCEEDED"


def test_list_filters(viewer_client, app, device):
    other = connected_device("annex")
    running = deployments.request_deployment(
        name="running", device=device, manifest_text=inbound_network_app(8081)[0],
        overrides_text=inbound_network_app(8081)[1],
    )  # fmt: skip
    running = run_workflow(running.application_instance_id)
    report(device, running, "RUNNING", [("code_node", "RUNNING", "")])
    pending = deployments.request_deployment(
        name="pending", device=other, manifest_text=inbound_network_app(8082)[0],
        overrides_text=inbound_network_app(8082)[1],
    )  # fmt: skip

    def names(query: str) -> set[str]:
        response = viewer_client.get(f"{API}?{query}")
        assert response.status_code == 200, response.content
        return {item["name"] for item in response.json()["results"]}

    assert names("") == {"running", "pending"}
    assert names("status=DEPLOYMENT_SUCCEEDED") == {"running"}
    assert names("status=DEPLOYMENT_PENDING") == {"pending"}
    assert names("health_status=RUNNING") == {"running"}
    assert names("health_status=NOT_AVAILABLE") == {"pending"}
    assert names(f"device={other.device_id}") == {"pending"}
    assert names(f"device={device.device_id}&status=DEPLOYMENT_PENDING") == set()
    assert viewer_client.get(f"{API}?status=NOT_A_STATUS").status_code == 400
    assert viewer_client.get(url(pending.application_instance_id)).status_code == 200
    assert viewer_client.get(url("applicationInstance-nosuchthing")).status_code == 404


def test_a_replacement_names_the_instance_it_replaces(operator_client, app, device):
    first = deploy(operator_client, body(device, 8081, name="v1")).json()
    response = deploy(
        operator_client, body(device, 8082, name="v2", replaces=first["application_instance_id"])
    )
    assert response.status_code == 201, response.content
    assert response.json()["replaces"] == first["application_instance_id"]


# --- invalid payloads -----------------------------------------------------------------------------


def test_an_invalid_manifest_lists_every_error_at_its_path(operator_client, app, device):
    data = body(device)
    graph = json.loads(data["manifest_payload"])
    del graph["nodeGraph"]["envelopeVersion"]  # a missing required field
    graph["nodeGraph"]["packages"].append(  # a package nobody registered
        {"name": f"{ACCOUNT}::missing_pkg", "version": "1.0"}
    )
    graph["nodeGraph"]["edges"] = [  # an edge from a node that does not exist
        {"producer": "nowhere.video_out", "consumer": "code_node.video_in"}
    ]
    data["manifest_payload"] = json.dumps(graph, indent=2)
    response = deploy(operator_client, data)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert {(error["document"], error["path"]) for error in errors} == {
        ("manifest", "/nodeGraph/envelopeVersion"),
        ("manifest", "/nodeGraph/packages/1"),
        ("manifest", "/nodeGraph/edges/0/producer"),
    }
    for error in errors:
        assert set(error) == {"document", "path", "message", "hint"}
        assert error["message"]
    by_path = {error["path"]: error for error in errors}
    assert by_path["/nodeGraph/packages/1"]["message"] == (
        f"Package {ACCOUNT}::missing_pkg is not registered on this console."
    )
    assert "Register it first" in by_path["/nodeGraph/packages/1"]["hint"]
    assert by_path["/nodeGraph/envelopeVersion"]["message"] == '"envelopeVersion" is required'
    assert by_path["/nodeGraph/envelopeVersion"]["hint"] == "one of: 2021-01-01"
    assert by_path["/nodeGraph/edges/0/producer"]["message"] == 'unknown node "nowhere"'
    assert not ApplicationInstance.objects.exists()


def test_errors_of_both_documents_come_together(operator_client, app, device):
    data = body(device)
    graph = json.loads(data["manifest_payload"])
    graph["nodeGraph"]["nodes"][0]["interface"] += "_v2"
    override = json.loads(data["manifest_overrides_payload"])
    override["nodeGraphOverrides"]["networkRoutingRules"][0]["hostPort"] = 9001
    data.update(manifest_payload=json.dumps(graph), manifest_overrides_payload=json.dumps(override))
    response = deploy(operator_client, data)
    assert response.status_code == 400, response.content
    places = {(error["document"], error["path"]) for error in response.json()["errors"]}
    assert ("manifest", "/nodeGraph/nodes/0/interface") in places
    assert any(
        document == "overrides" and path.startswith("/nodeGraphOverrides/networkRoutingRules/0")
        for document, path in places
    ), places


def test_an_override_that_is_not_json_is_an_overrides_error(operator_client, app, device):
    response = deploy(operator_client, body(device) | {"manifest_overrides_payload": "{not json"})
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert (error["document"], error["path"]) == ("overrides", "")
    assert error["message"].startswith("not valid JSON")


def test_a_manifest_that_is_not_json_is_a_manifest_error(operator_client, app, device):
    response = deploy(operator_client, body(device) | {"manifest_payload": '{"nodeGraph": '})
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert ("manifest", "") in {(error["document"], error["path"]) for error in errors}


def test_a_camera_placeholder_left_in_place_is_refused(operator_client, app, device):
    data = camera_body(device, [])
    override = json.loads(data["manifest_overrides_payload"])
    override["nodeGraphOverrides"]["nodeOverrides"] = []
    data["manifest_overrides_payload"] = json.dumps(override)
    response = deploy(operator_client, data)
    assert response.status_code == 400, response.content
    assert response.json()["errors"], response.json()
    assert not ApplicationInstance.objects.exists()


def test_fields_are_checked(operator_client, app, device):
    response = deploy(operator_client, {"name": "bad name", "device": "device-nosuchdevice"})
    assert response.status_code == 400
    problems = response.json()
    assert set(problems) == {"name", "device", "manifest_payload"}
    not_set_up = make_device(name="new-one")  # AWAITING_PROVISIONING
    response = deploy(operator_client, body(not_set_up))
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["document"] == "device"
    assert "new-one is not set up yet" in error["message"]
    response = deploy(operator_client, body(device, runtime_role="no-such-role"))
    assert response.status_code == 400 and "runtime_role" in response.json()


# --- quotas -------------------------------------------------------------------------------------


def test_applications_per_device(operator_client, app, device, settings):
    settings.APPLICATIONS_PER_DEVICE = 2
    first = deploy(operator_client, body(device, 8081, name="one")).json()
    assert deploy(operator_client, body(device, 8082, name="two")).status_code == 201
    response = deploy(operator_client, body(device, 8083, name="three"))
    assert response.status_code == 402
    assert response.json() == {
        "detail": "Device lobby-1 runs 2 applications, the most allowed "
        "(APPLICATIONS_PER_DEVICE=2). Remove one first.",
        "quota": "APPLICATIONS_PER_DEVICE",
    }
    # Another device is not affected.
    assert deploy(operator_client, body(connected_device("annex"), 8083)).status_code == 201
    # A replacement does not need a free slot: the one it replaces goes when it runs.
    response = deploy(
        operator_client,
        body(device, 8084, name="one-v2", replaces=first["application_instance_id"]),
    )
    assert response.status_code == 201, response.content
    # Removing frees a slot at once (one, two and one-v2 use the device now).
    assert operator_client.delete(url(first["application_instance_id"])).status_code == 202
    assert deploy(operator_client, body(device, 8085, name="four")).status_code == 402
    two = ApplicationInstance.objects.get(name="two")
    assert operator_client.delete(url(two.application_instance_id)).status_code == 202
    assert deploy(operator_client, body(device, 8085, name="four")).status_code == 201
    assert deploy(operator_client, body(device, 8086, name="five")).status_code == 402


def test_streams_per_application(operator_client, app, device, settings):
    settings.STREAMS_PER_APPLICATION = 2
    for name in ("cam-a", "cam-b", "cam-c"):
        add_camera(name)
    response = deploy(operator_client, camera_body(device, ["cam-a", "cam-b", "cam-c"]))
    assert response.status_code == 402
    assert response.json() == {
        "detail": "The application uses 3 camera streams; at most 2 are allowed per application "
        "(STREAMS_PER_APPLICATION).",
        "quota": "STREAMS_PER_APPLICATION",
    }
    assert not ApplicationInstance.objects.exists()
    response = deploy(operator_client, camera_body(device, ["cam-a", "cam-b"]))
    assert response.status_code == 201, response.content


def test_deployments_per_device_per_day(operator_client, app, device, settings):
    settings.DEPLOYMENTS_PER_DEVICE_PER_DAY = 2
    first = deploy(operator_client, body(device, 8081, name="one")).json()
    # A removed instance still counts: the quota is on deployments, not on what runs.
    assert operator_client.delete(url(first["application_instance_id"])).status_code == 202
    assert deploy(operator_client, body(device, 8082, name="two")).status_code == 201
    response = deploy(operator_client, body(device, 8083, name="three"))
    assert response.status_code == 402
    assert response.json() == {
        "detail": "Device lobby-1 had 2 deployments in the last 24 hours, the most allowed "
        "(DEPLOYMENTS_PER_DEVICE_PER_DAY=2).",
        "quota": "DEPLOYMENTS_PER_DEVICE_PER_DAY",
    }
    # The window slides: a deployment from yesterday no longer counts.
    ApplicationInstance.objects.filter(name="one").update(
        created=timezone.now() - timedelta(days=1, minutes=1)
    )
    assert deploy(operator_client, body(device, 8083, name="three")).status_code == 201


# --- who may ------------------------------------------------------------------------------------


def test_viewers_read_but_change_nothing(viewer_client, operator_client, app, device):
    response = deploy(viewer_client, body(device))
    assert response.status_code == 403
    assert response.json() == {"detail": "This needs the Operator role."}
    assert not ApplicationInstance.objects.exists()
    instance_id = deploy(operator_client, body(device)).json()["application_instance_id"]
    run_workflow(instance_id)
    assert viewer_client.get(url(instance_id)).status_code == 200
    assert viewer_client.delete(url(instance_id)).status_code == 403
    signals = {"node_signals": [{"node_instance_id": "code_node", "signal": "PAUSE"}]}
    response = viewer_client.post(
        url(instance_id, "node-signals/"), signals, content_type="application/json"
    )
    assert response.status_code == 403
    instance = ApplicationInstance.objects.get(application_instance_id=instance_id)
    assert instance.desired_state != "REMOVED"
    assert instance.node_instances.get().signal == ""


def test_anonymous_requests_are_refused(client, app, device):
    assert client.get(API).status_code == 401
    assert deploy(client, body(device)).status_code == 401


# --- remove ---------------------------------------------------------------------------------------


def test_delete_removes_from_the_device(operator_client, app, device):
    instance_id = deploy(operator_client, body(device)).json()["application_instance_id"]
    instance = run_workflow(instance_id)
    report(device, instance, "RUNNING", [("code_node", "RUNNING", "")])
    response = operator_client.delete(url(instance_id))
    assert response.status_code == 202
    removed = response.json()
    assert removed["status"] == "REMOVAL_REQUESTED"
    assert removed["desired_state"] == "REMOVED"
    assert removed["status_description"] == "Removal Workflow has been scheduled."
    assert build_desired(Device.objects.get(pk=device.pk)).applications == []
    # Asking again changes nothing.
    again = operator_client.delete(url(instance_id))
    assert again.status_code == 202 and again.json()["status"] == "REMOVAL_REQUESTED"
    # The device stops it: REMOVAL_SUCCEEDED, and the instance stays readable.
    report(device, instance, "STOPPED")
    shown = operator_client.get(url(instance_id)).json()
    assert shown["status"] == "REMOVAL_SUCCEEDED"
    assert [e["status"] for e in shown["events"]][-2:] == ["REMOVAL_REQUESTED", "REMOVAL_SUCCEEDED"]
    assert operator_client.delete(url("applicationInstance-nosuchthing")).status_code == 404


# --- node signals --------------------------------------------------------------------------------


@pytest.fixture
def camera_instance(operator_client, app, device):
    for name in ("door-east", "door-west"):
        add_camera(name)
    response = deploy(
        operator_client, camera_body(device, ["door-east", "door-west"], paused={"door-west"})
    )
    assert response.status_code == 201, response.content
    return run_workflow(response.json()["application_instance_id"])


def signal(client, instance, *pairs: tuple[str, str]):
    return client.post(
        url(instance.application_instance_id, "node-signals/"),
        {"node_signals": [{"node_instance_id": n, "signal": s} for n, s in pairs]},
        content_type="application/json",
    )


def desired_signals(device) -> dict[str, str | None]:
    [spec] = build_desired(Device.objects.get(pk=device.pk)).model_dump(mode="json")["applications"]
    return {node["name"]: node.get("signal") for node in spec["nodes"] if node["kind"] == "camera"}


def test_pause_and_resume_cameras(operator_client, camera_instance, device):
    nodes = {n["node_instance_id"]: n for n in operator_client.get(
        url(camera_instance.application_instance_id)).json()["node_instances"]}  # fmt: skip
    assert set(nodes) == {"code_node", "door-east", "door-west"}
    assert (nodes["door-east"]["launch"], nodes["door-west"]["launch"]) == (
        "onAppStart",
        "onSignal",
    )
    generation = camera_instance.generation
    response = signal(
        operator_client, camera_instance, ("door-east", "PAUSE"), ("door-west", "RESUME")
    )
    assert response.status_code == 202, response.content
    shown = {n["node_instance_id"]: n["signal"] for n in response.json()["node_instances"]}
    assert shown == {"code_node": "", "door-east": "PAUSE", "door-west": "RESUME"}
    camera_instance.refresh_from_db()
    assert camera_instance.generation == generation + 1  # the device acts on it
    assert desired_signals(device) == {"door-east": "PAUSE", "door-west": "RESUME"}
    response = signal(operator_client, camera_instance, ("door-east", "RESUME"))
    assert response.status_code == 202
    assert desired_signals(device) == {"door-east": "RESUME", "door-west": "RESUME"}


def test_node_signals_are_validated(operator_client, camera_instance):
    response = signal(operator_client, camera_instance, ("ghost", "PAUSE"), ("door-east", "PAUSE"))
    assert response.status_code == 400
    assert response.json() == {"node_signals": ["No node instance ghost in cameras."]}
    camera_instance.refresh_from_db()
    # Nothing was applied: not even the valid one.
    assert camera_instance.node_instances.get(node_instance_id="door-east").signal == ""
    response = signal(operator_client, camera_instance, ("door-east", "STOP"))
    assert response.status_code == 400
    assert response.json() == {"node_signals": {"0": {"signal": ['"STOP" is not a valid choice.']}}}
    response = operator_client.post(
        url(camera_instance.application_instance_id, "node-signals/"),
        {"node_signals": []},
        content_type="application/json",
    )
    assert response.status_code == 400


def test_only_camera_nodes_of_running_instances_take_signals(operator_client, camera_instance):
    response = signal(operator_client, camera_instance, ("code_node", "PAUSE"))
    assert response.status_code == 400
    assert response.json() == {
        "node_signals": ["Only camera nodes can be paused and resumed; code_node is not."]
    }
    operator_client.delete(url(camera_instance.application_instance_id))
    response = signal(operator_client, camera_instance, ("door-east", "PAUSE"))
    assert response.status_code == 400
    assert response.json() == {
        "node_signals": ["cameras is REMOVAL_REQUESTED and no longer runs; it takes no signals."]
    }
    camera_instance.refresh_from_db()
    assert {n.signal for n in camera_instance.node_instances.all()} == {""}


def test_node_signals_before_the_workflow_validated_the_instance(operator_client, app, device):
    add_camera("door-east")
    response = deploy(operator_client, camera_body(device, ["door-east"]))
    instance = ApplicationInstance.objects.get(
        application_instance_id=response.json()["application_instance_id"]
    )
    response = signal(operator_client, instance, ("door-east", "PAUSE"))
    assert response.status_code == 400  # no node instances yet
