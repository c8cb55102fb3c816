"""Application instances through boto3's real ``panorama`` client against the live console:
CreateApplicationInstance with minified payloads, Describe…, Describe…Details, the three lists,
RemoveApplicationInstance and SignalApplicationInstanceNodeInstances — and the errors Panorama
answers for each (payload problems, quotas, roles, states).

The Celery worker does not run here: a new instance stays DEPLOYMENT_PENDING until a test runs
the workflow's task itself (``tasks.deploy_instance``, what the worker would run) and plays the
device's reports through ``deployments.apply_report`` (what the device link calls).
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from applications.models import ApplicationInstance, RuntimeRole
from core.models import Installation
from core.roles import Role
from devices.desired import build_desired
from devices.models import Device
from tests.support.deploy import (
    PACKAGE,
    add_camera,
    camera_graph,
    camera_override,
    run_workflow,
)
from tests.support.devices import connected_device
from tests.support.panorama import (
    REGION,
    create,
    device_reports,
    error_details,
    minified,
    payloads,
)

pytestmark = pytest.mark.django_db(transaction=True)

# --- create, describe, list ---------------------------------------------------------------------


def test_create_then_describe_list_and_details(panorama, operator, app, device):
    api = panorama(user=operator)
    role = RuntimeRole.objects.create(name="metrics")
    graph, override = payloads()
    account = Installation.get().account_id
    instance_id = api.create_application_instance(
        Name="inbound",
        Description="Answers HTTP",
        DefaultRuntimeContextDevice=device.device_id,
        ManifestPayload={"PayloadData": graph},
        ManifestOverridesPayload={"PayloadData": override},
        RuntimeRoleArn="arn:aws:iam::123456789012:role/metrics",
        Tags={"site": "hq"},
    )["ApplicationInstanceId"]
    assert instance_id.startswith("applicationInstance-")
    instance = ApplicationInstance.objects.get(application_instance_id=instance_id)
    # The same record the wizard and the REST API make, and the workflow is queued.
    assert (instance.created_by, instance.runtime_role, instance.device) == (operator, role, device)
    assert (instance.manifest_payload, instance.overrides_payload) == (graph, override)
    assert list(instance.events.values_list("status", flat=True)) == ["DEPLOYMENT_PENDING"]

    shown = api.describe_application_instance(ApplicationInstanceId=instance_id)
    shown.pop("ResponseMetadata")
    created, updated = shown.pop("CreatedTime"), shown.pop("LastUpdatedTime")
    assert isinstance(created, datetime) and isinstance(updated, datetime)
    assert abs(created.timestamp() - instance.created.timestamp()) < 0.01
    assert shown == {
        "Name": "inbound",
        "Description": "Answers HTTP",
        "ApplicationInstanceId": instance_id,
        "Arn": f"arn:aws:panorama:{REGION}:{account}:applicationInstance/{instance_id}",
        "DefaultRuntimeContextDevice": device.device_id,
        "DefaultRuntimeContextDeviceName": "lobby-1",
        "RuntimeRoleArn": f"arn:aws:iam::{account}:role/metrics",
        "Status": "DEPLOYMENT_PENDING",
        "HealthStatus": "NOT_AVAILABLE",
        "StatusDescription": "Deployment Workflow has been scheduled.",
        "Tags": {"site": "hq"},
        "RuntimeContextStates": [],
    }

    details = api.describe_application_instance_details(ApplicationInstanceId=instance_id)
    assert details["ManifestPayload"] == {"PayloadData": graph}  # byte for byte
    assert details["ManifestOverridesPayload"] == {"PayloadData": override}
    assert (details["Name"], details["Description"]) == ("inbound", "Answers HTTP")
    assert details["DefaultRuntimeContextDevice"] == device.device_id
    assert details["CreatedTime"] == created and "ApplicationInstanceIdToReplace" not in details

    [listed] = api.list_application_instances()["ApplicationInstances"]
    assert listed["ApplicationInstanceId"] == instance_id
    assert listed["Status"] == "DEPLOYMENT_PENDING"
    assert listed["DefaultRuntimeContextDeviceName"] == "lobby-1"
    assert listed["Tags"] == {"site": "hq"}
    # Known once the workflow validated the payloads.
    nodes = api.list_application_instance_node_instances(ApplicationInstanceId=instance_id)
    assert nodes["NodeInstances"] == [] and "NextToken" not in nodes
    assert (
        api.list_application_instance_dependencies(ApplicationInstanceId=instance_id)[
            "PackageObjects"
        ]
        == []
    )

    # The worker's step, then the device runs it.
    instance = run_workflow(instance_id)
    shown = api.describe_application_instance(ApplicationInstanceId=instance_id)
    assert shown["Status"] == "DEPLOYMENT_REQUESTED"
    assert shown["StatusDescription"] == "Deployment Workflow has completed data validation."
    [node] = api.list_application_instance_node_instances(ApplicationInstanceId=instance_id)[
        "NodeInstances"
    ]
    assert node == {
        "NodeInstanceId": "code_node",
        "NodeId": f"{PACKAGE}-1.0-{app[:8]}-code_interface",
        "PackageName": PACKAGE,
        "PackageVersion": "1.0",
        "PackagePatchVersion": app,
        "NodeName": "code_interface",
        "CurrentStatus": "NOT_AVAILABLE",
    }
    assert api.list_application_instance_dependencies(ApplicationInstanceId=instance_id)[
        "PackageObjects"
    ] == [{"Name": PACKAGE, "PackageVersion": "1.0", "PatchVersion": app}]

    device_reports(device, instance, "RUNNING", [("code_node", "RUNNING", "")])
    shown = api.describe_application_instance(ApplicationInstanceId=instance_id)
    assert (shown["Status"], shown["HealthStatus"]) == ("DEPLOYMENT_SUCCEEDED", "RUNNING")
    assert shown["StatusDescription"] == "Application deployed successfully."
    [state] = shown["RuntimeContextStates"]
    reported_at = ApplicationInstance.objects.get(pk=instance.pk).reported_at
    assert abs(state.pop("DeviceReportedTime").timestamp() - reported_at.timestamp()) < 0.01
    assert state == {
        "DesiredState": "RUNNING",
        "DeviceReportedStatus": "RUNNING",
        "RuntimeContextName": "lobby-1",
    }
    [node] = api.list_application_instance_node_instances(ApplicationInstanceId=instance_id)[
        "NodeInstances"
    ]
    assert node["CurrentStatus"] == "RUNNING"


def test_a_name_is_optional(operator_api, app, device):
    graph, _ = payloads()
    instance_id = operator_api.create_application_instance(
        DefaultRuntimeContextDevice=device.device_id, ManifestPayload={"PayloadData": graph}
    )["ApplicationInstanceId"]
    shown = operator_api.describe_application_instance(ApplicationInstanceId=instance_id)
    assert shown["Name"].startswith("app-")
    assert "Description" not in shown and shown["Tags"] == {}
    details = operator_api.describe_application_instance_details(ApplicationInstanceId=instance_id)
    assert details["ManifestOverridesPayload"] == {"PayloadData": ""}


def test_a_replacement_names_the_instance_it_replaces(operator_api, app, device):
    first = create(operator_api, device, 8081)
    second = create(operator_api, device, 8082, ApplicationInstanceIdToReplace=first)
    shown = operator_api.describe_application_instance(ApplicationInstanceId=second)
    assert shown["ApplicationInstanceIdToReplace"] == first
    details = operator_api.describe_application_instance_details(ApplicationInstanceId=second)
    assert details["ApplicationInstanceIdToReplace"] == first
    # The workflow retires the one it replaces when the replacement goes to the device; this
    # one never reached it (its own workflow has not run), so it is removed at once.
    run_workflow(second)
    shown = operator_api.describe_application_instance(ApplicationInstanceId=first)
    assert shown["Status"] == "REMOVAL_SUCCEEDED"


def test_unknown_instances_are_not_found(operator_api):
    missing = "applicationInstance-nosuchthing"
    for call in (
        operator_api.describe_application_instance,
        operator_api.describe_application_instance_details,
        operator_api.list_application_instance_node_instances,
        operator_api.list_application_instance_dependencies,
        operator_api.remove_application_instance,
    ):
        with pytest.raises(operator_api.exceptions.ResourceNotFoundException) as raised:
            call(ApplicationInstanceId=missing)
        error = error_details(raised)
        assert error["HTTPStatusCode"] == 404
        assert (error["ResourceId"], error["ResourceType"]) == (missing, "applicationInstance")


# --- the list: filters and pages ----------------------------------------------------------------


def test_list_filters_by_device_and_status(panorama, app, device):
    api = panorama(Role.VIEWER)
    operator_api = panorama(Role.OPERATOR)
    annex = connected_device("annex")
    running = create(operator_api, device, 8081)
    device_reports(device, run_workflow(running), "RUNNING", [("code_node", "RUNNING", "")])
    requested = run_workflow(create(operator_api, device, 8082)).application_instance_id
    pending = create(operator_api, annex, 8083)
    removing = create(operator_api, annex, 8084)
    run_workflow(removing)
    operator_api.remove_application_instance(ApplicationInstanceId=removing)

    def ids(**filters) -> set[str]:
        listed = api.list_application_instances(**filters)["ApplicationInstances"]
        return {item["ApplicationInstanceId"] for item in listed}

    assert ids() == {running, requested, pending, removing}
    assert ids(StatusFilter="DEPLOYMENT_SUCCEEDED") == {running}
    # The two groups, as the console's filter has them.
    assert ids(StatusFilter="PROCESSING_DEPLOYMENT") == {requested, pending}
    assert ids(StatusFilter="PROCESSING_REMOVAL") == {removing}
    assert ids(StatusFilter="REMOVAL_SUCCEEDED") == set()
    assert ids(DeviceId=annex.device_id) == {pending, removing}
    assert ids(DeviceId=device.device_id, StatusFilter="PROCESSING_DEPLOYMENT") == {requested}
    assert ids(DeviceId="device-nosuchdevice") == set()


def test_pages_of_one(panorama, app, device):
    api = panorama(Role.VIEWER)
    operator_api = panorama(Role.OPERATOR)
    created = [create(operator_api, device, port) for port in (8081, 8082, 8083)]
    seen, token, pages = [], None, 0
    while True:
        page = api.list_application_instances(
            MaxResults=1, **({"NextToken": token} if token else {})
        )
        pages += 1
        assert len(page["ApplicationInstances"]) == 1
        seen += [item["ApplicationInstanceId"] for item in page["ApplicationInstances"]]
        token = page.get("NextToken")
        if token is None:
            break
    assert pages == 3
    assert seen == created[::-1]  # newest first, each once
    # A token belongs to the list that gave it out.
    first = api.list_application_instances(MaxResults=1)
    with pytest.raises(api.exceptions.ValidationException):
        api.list_application_instance_node_instances(
            ApplicationInstanceId=created[0], NextToken=first["NextToken"]
        )


def test_node_instances_in_pages(operator_api, camera_instance):
    seen, token = [], None
    while True:
        extra = {"NextToken": token} if token else {}
        page = operator_api.list_application_instance_node_instances(
            ApplicationInstanceId=camera_instance.application_instance_id, MaxResults=1, **extra
        )
        assert len(page["NodeInstances"]) == 1
        seen += page["NodeInstances"]
        token = page.get("NextToken")
        if token is None:
            break
    assert [node["NodeInstanceId"] for node in seen] == ["code_node", "door-east", "door-west"]
    cameras = {node["NodeInstanceId"]: node for node in seen[1:]}
    assert cameras["door-east"]["NodeName"] == "door-east"
    assert cameras["door-east"]["PackageName"] == "door-east"
    dependencies = operator_api.list_application_instance_dependencies(
        ApplicationInstanceId=camera_instance.application_instance_id
    )["PackageObjects"]
    assert {item["Name"] for item in dependencies} == {PACKAGE, "door-east", "door-west"}


# --- roles --------------------------------------------------------------------------------------


def test_a_viewer_reads_but_changes_nothing(panorama, app, device):
    viewer_api = panorama(Role.VIEWER)
    instance_id = create(panorama(Role.OPERATOR), device, 8081)
    run_workflow(instance_id)
    graph, override = payloads(8082)
    attempts = [
        lambda: viewer_api.create_application_instance(
            DefaultRuntimeContextDevice=device.device_id,
            ManifestPayload={"PayloadData": graph},
            ManifestOverridesPayload={"PayloadData": override},
        ),
        lambda: viewer_api.remove_application_instance(ApplicationInstanceId=instance_id),
        lambda: viewer_api.signal_application_instance_node_instances(
            ApplicationInstanceId=instance_id,
            NodeSignals=[{"NodeInstanceId": "code_node", "Signal": "PAUSE"}],
        ),
    ]
    for attempt in attempts:
        with pytest.raises(viewer_api.exceptions.AccessDeniedException) as raised:
            attempt()
        assert error_details(raised)["HTTPStatusCode"] == 403
    instance = ApplicationInstance.objects.get()
    assert (instance.desired_state, instance.status) == ("RUNNING", "DEPLOYMENT_REQUESTED")
    # Reading is allowed.
    assert viewer_api.describe_application_instance(ApplicationInstanceId=instance_id)["Name"]
    assert viewer_api.list_application_instances()["ApplicationInstances"]
    assert viewer_api.list_application_instance_node_instances(ApplicationInstanceId=instance_id)[
        "NodeInstances"
    ]


# --- remove -------------------------------------------------------------------------------------


def test_remove_then_the_device_stops_it(operator_api, app, device):
    instance_id = create(operator_api, device)
    instance = run_workflow(instance_id)
    device_reports(device, instance, "RUNNING", [("code_node", "RUNNING", "")])
    response = operator_api.remove_application_instance(ApplicationInstanceId=instance_id)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert set(response) == {"ResponseMetadata"}
    shown = operator_api.describe_application_instance(ApplicationInstanceId=instance_id)
    assert shown["Status"] == "REMOVAL_REQUESTED"
    assert shown["StatusDescription"] == "Removal Workflow has been scheduled."
    assert shown["RuntimeContextStates"][0]["DesiredState"] == "REMOVED"
    assert build_desired(Device.objects.get(pk=device.pk)).applications == []
    # Removing again: it is being removed already.
    with pytest.raises(operator_api.exceptions.ConflictException) as raised:
        operator_api.remove_application_instance(ApplicationInstanceId=instance_id)
    error = error_details(raised)
    assert error["HTTPStatusCode"] == 409
    assert (error["ResourceId"], error["ResourceType"]) == (instance_id, "applicationInstance")
    device_reports(device, ApplicationInstance.objects.get(pk=instance.pk), "STOPPED")
    shown = operator_api.describe_application_instance(ApplicationInstanceId=instance_id)
    assert (shown["Status"], shown["HealthStatus"]) == ("REMOVAL_SUCCEEDED", "NOT_AVAILABLE")
    listed = operator_api.list_application_instances(StatusFilter="REMOVAL_SUCCEEDED")
    assert [i["ApplicationInstanceId"] for i in listed["ApplicationInstances"]] == [instance_id]
    with pytest.raises(operator_api.exceptions.ConflictException):
        operator_api.remove_application_instance(ApplicationInstanceId=instance_id)


def test_a_pending_instance_can_be_removed(operator_api, app, device):
    instance_id = create(operator_api, device)
    operator_api.remove_application_instance(ApplicationInstanceId=instance_id)
    instance = ApplicationInstance.objects.get()
    # It never reached the device: nothing will report its removal, so it is done at once.
    assert (instance.status, instance.desired_state) == ("REMOVAL_SUCCEEDED", "REMOVED")
    assert [e.status for e in instance.events.order_by("pk")][-2:] == [
        "REMOVAL_REQUESTED", "REMOVAL_SUCCEEDED",
    ]  # fmt: skip


# --- node signals -------------------------------------------------------------------------------


@pytest.fixture
def camera_instance(operator_api, app, device):
    for name in ("door-east", "door-west"):
        add_camera(name)
    instance_id = operator_api.create_application_instance(
        Name="cameras",
        DefaultRuntimeContextDevice=device.device_id,
        ManifestPayload={"PayloadData": minified(json.dumps(camera_graph()))},
        ManifestOverridesPayload={
            "PayloadData": minified(
                json.dumps(camera_override(["door-east", "door-west"], paused={"door-west"}))
            )
        },
    )["ApplicationInstanceId"]
    return run_workflow(instance_id)


def desired_signals(device) -> dict[str, str | None]:
    [spec] = build_desired(Device.objects.get(pk=device.pk)).applications
    # Desired.applications is typed (devicelink.apps.ApplicationSpec).
    return {node.name: node.signal for node in spec.nodes if node.kind == "camera"}


def signal(api, instance_id: str, *pairs: tuple[str, str]) -> dict:
    return api.signal_application_instance_node_instances(
        ApplicationInstanceId=instance_id,
        NodeSignals=[{"NodeInstanceId": n, "Signal": s} for n, s in pairs],
    )


def test_pause_and_resume_cameras(operator_api, camera_instance, device):
    instance_id = camera_instance.application_instance_id
    generation = camera_instance.generation
    response = signal(operator_api, instance_id, ("door-east", "PAUSE"), ("door-west", "RESUME"))
    assert response["ApplicationInstanceId"] == instance_id
    camera_instance.refresh_from_db()
    assert camera_instance.generation == generation + 1  # the device acts on it
    assert desired_signals(device) == {"door-east": "PAUSE", "door-west": "RESUME"}
    signal(operator_api, instance_id, ("door-east", "RESUME"))
    assert desired_signals(device) == {"door-east": "RESUME", "door-west": "RESUME"}


def signal_refused(api, instance_id: str, *pairs: tuple[str, str]) -> dict:
    with pytest.raises(api.exceptions.ValidationException) as raised:
        signal(api, instance_id, *pairs)
    error = error_details(raised)
    assert error["HTTPStatusCode"] == 400
    return error


def test_node_signals_are_checked(operator_api, camera_instance):
    instance_id = camera_instance.application_instance_id
    error = signal_refused(operator_api, instance_id, ("ghost", "PAUSE"), ("door-east", "PAUSE"))
    assert error["Reason"] == "FIELD_VALIDATION_FAILED"
    assert error["Fields"] == [
        {"Name": "NodeSignals", "Message": "No node instance ghost in cameras."}
    ]
    assert camera_instance.node_instances.get(node_instance_id="door-east").signal == ""  # none
    error = signal_refused(operator_api, instance_id, ("code_node", "PAUSE"))
    assert error["Fields"][0]["Message"] == (
        "Only camera nodes can be paused and resumed; code_node is not."
    )
    error = signal_refused(operator_api, "applicationInstance-nosuchthing", ("door-east", "PAUSE"))
    assert error["Fields"][0]["Name"] == "ApplicationInstanceId"
    # A removed instance takes no signals.
    operator_api.remove_application_instance(ApplicationInstanceId=instance_id)
    error = signal_refused(operator_api, instance_id, ("door-east", "PAUSE"))
    assert "no longer runs" in error["Message"]
    assert {n.signal for n in camera_instance.node_instances.all()} == {""}


def test_node_signals_before_the_workflow_validated_the_instance(operator_api, app, device):
    add_camera("door-east")
    instance_id = operator_api.create_application_instance(
        DefaultRuntimeContextDevice=device.device_id,
        ManifestPayload={"PayloadData": json.dumps(camera_graph())},
        ManifestOverridesPayload={"PayloadData": json.dumps(camera_override(["door-east"]))},
    )["ApplicationInstanceId"]
    error = signal_refused(operator_api, instance_id, ("door-east", "PAUSE"))  # no nodes yet
    assert "No node instance door-east" in error["Fields"][0]["Message"]


def test_values_outside_the_model_are_refused(operator_api, camera_instance):
    """botocore does not check enums before sending: the console checks them against the model."""
    instance_id = camera_instance.application_instance_id
    signal_refused(operator_api, instance_id, ("door-east", "STOP"))
    with pytest.raises(operator_api.exceptions.ValidationException):
        operator_api.list_application_instances(StatusFilter="NOT_A_STATUS")
    assert {n.signal for n in camera_instance.node_instances.all()} == {""}
