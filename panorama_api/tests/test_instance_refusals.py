"""What CreateApplicationInstance refuses through boto3's real ``panorama`` client against the
live console, with the errors Panorama answers (payload problems, devices, states), and the
quotas. The Celery worker does not run here (see test_instances.py)."""

from __future__ import annotations

import json

import pytest

from applications.models import ApplicationInstance
from tests.support.deploy import (
    ACCOUNT,
    add_camera,
    camera_graph,
    camera_override,
)
from tests.support.devices import connected_device, make_device
from tests.support.panorama import (
    MANIFEST,
    OVERRIDES,
    create,
    error_details,
    payloads,
)

pytestmark = pytest.mark.django_db(transaction=True)


# --- what a deployment refuses ------------------------------------------------------------------


def refused(api, **arguments) -> dict:
    with pytest.raises(api.exceptions.ValidationException) as raised:
        api.create_application_instance(**arguments)
    error = error_details(raised)
    assert error["HTTPStatusCode"] == 400
    assert error["Reason"] == "FIELD_VALIDATION_FAILED"
    return error


def test_every_manifest_error_is_a_field(operator_api, app, device):
    graph, override = payloads()
    doc = json.loads(graph)
    del doc["nodeGraph"]["envelopeVersion"]  # a missing required field
    doc["nodeGraph"]["packages"].append({"name": f"{ACCOUNT}::missing_pkg", "version": "1.0"})
    doc["nodeGraph"]["edges"] = [
        {"producer": "nowhere.video_out", "consumer": "code_node.video_in"}
    ]
    error = refused(
        operator_api,
        DefaultRuntimeContextDevice=device.device_id,
        ManifestPayload={"PayloadData": json.dumps(doc, separators=(",", ":"))},
        ManifestOverridesPayload={"PayloadData": override},
    )
    assert {field["Name"] for field in error["Fields"]} == {MANIFEST}
    messages = sorted(field["Message"] for field in error["Fields"])
    assert len(messages) == 3
    assert messages[0].startswith('/nodeGraph/edges/0/producer: unknown node "nowhere"')
    assert messages[1] == '/nodeGraph/envelopeVersion: "envelopeVersion" is required (one of: ' \
        "2021-01-01)"  # fmt: skip
    assert messages[2].startswith(
        f"/nodeGraph/packages/1: Package {ACCOUNT}::missing_pkg is not registered on this console."
    )
    assert "3 problems" in error["Message"]
    assert not ApplicationInstance.objects.exists()


def test_errors_of_both_documents_name_their_member(operator_api, app, device):
    graph, _ = payloads()
    doc = json.loads(graph)
    doc["nodeGraph"]["nodes"][0]["interface"] += "_v2"
    error = refused(
        operator_api,
        DefaultRuntimeContextDevice=device.device_id,
        ManifestPayload={"PayloadData": json.dumps(doc)},
        ManifestOverridesPayload={"PayloadData": "{not json"},
    )
    fields = {(field["Name"], field["Message"].split(":")[0]) for field in error["Fields"]}
    assert (MANIFEST, "/nodeGraph/nodes/0/interface") in fields
    assert any(name == OVERRIDES for name, _ in fields), fields
    [overrides_error] = [f for f in error["Fields"] if f["Name"] == OVERRIDES]
    assert overrides_error["Message"].startswith("not valid JSON")


def test_a_host_port_in_use_is_a_field_of_the_overrides(operator_api, app, device):
    first = create(operator_api, device, 8081)
    graph, override = payloads(8081)
    error = refused(
        operator_api,
        DefaultRuntimeContextDevice=device.device_id,
        ManifestPayload={"PayloadData": graph},
        ManifestOverridesPayload={"PayloadData": override},
    )
    [field] = error["Fields"]
    assert field["Name"] == OVERRIDES
    assert field["Message"].startswith(
        "/nodeGraphOverrides/networkRoutingRules/0/hostPort: Host port 8081 is already used by "
        "application inbound-8081"
    )
    assert ApplicationInstance.objects.get().application_instance_id == first


def test_the_device_role_and_replaced_instance_are_checked(operator_api, app, device):
    graph, _ = payloads()
    manifest = {"PayloadData": graph}
    # Unknown device: CreateApplicationInstance models no ResourceNotFoundException.
    error = refused(
        operator_api, DefaultRuntimeContextDevice="device-nosuchdevice", ManifestPayload=manifest
    )
    assert [field["Name"] for field in error["Fields"]] == ["DefaultRuntimeContextDevice"]
    not_set_up = make_device(name="new-one")  # AWAITING_PROVISIONING
    error = refused(
        operator_api, DefaultRuntimeContextDevice=not_set_up.device_id, ManifestPayload=manifest
    )
    [field] = error["Fields"]
    assert field["Name"] == "DefaultRuntimeContextDevice"
    assert "new-one is not set up yet" in field["Message"]
    error = refused(
        operator_api,
        DefaultRuntimeContextDevice=device.device_id,
        ManifestPayload=manifest,
        RuntimeRoleArn="arn:aws:iam::123456789012:role/no-such-role",
    )
    assert [field["Name"] for field in error["Fields"]] == ["RuntimeRoleArn"]
    error = refused(
        operator_api,
        DefaultRuntimeContextDevice=device.device_id,
        ManifestPayload=manifest,
        ApplicationInstanceIdToReplace="applicationInstance-nosuchthing",
    )
    assert [field["Name"] for field in error["Fields"]] == ["ApplicationInstanceIdToReplace"]
    # Only an instance still on the same device can be replaced.
    elsewhere = create(operator_api, connected_device("annex"), 8082)
    error = refused(
        operator_api,
        DefaultRuntimeContextDevice=device.device_id,
        ManifestPayload=manifest,
        ApplicationInstanceIdToReplace=elsewhere,
    )
    [field] = error["Fields"]
    assert field["Name"] == "ApplicationInstanceIdToReplace"
    assert "cannot be replaced here" in field["Message"]
    assert ApplicationInstance.objects.count() == 1


# --- quotas -------------------------------------------------------------------------------------


def test_applications_per_device_is_a_402(operator_api, app, device, settings):
    settings.APPLICATIONS_PER_DEVICE = 1
    create(operator_api, device, 8081)
    with pytest.raises(operator_api.exceptions.ServiceQuotaExceededException) as raised:
        create(operator_api, device, 8082)
    error = error_details(raised)
    assert error["HTTPStatusCode"] == 402
    assert (error["QuotaCode"], error["ServiceCode"]) == ("APPLICATIONS_PER_DEVICE", "panorama")
    assert (error["ResourceId"], error["ResourceType"]) == (device.device_id, "device")
    assert error["Message"] == (
        "Device lobby-1 runs 1 applications, the most allowed (APPLICATIONS_PER_DEVICE=1). "
        "Remove one first."
    )
    assert ApplicationInstance.objects.count() == 1


def test_streams_per_application_is_a_402(operator_api, app, device, settings):
    settings.STREAMS_PER_APPLICATION = 1
    for name in ("cam-a", "cam-b"):
        add_camera(name)
    with pytest.raises(operator_api.exceptions.ServiceQuotaExceededException) as raised:
        operator_api.create_application_instance(
            DefaultRuntimeContextDevice=device.device_id,
            ManifestPayload={"PayloadData": json.dumps(camera_graph())},
            ManifestOverridesPayload={
                "PayloadData": json.dumps(camera_override(["cam-a", "cam-b"]))
            },
        )
    assert error_details(raised)["QuotaCode"] == "STREAMS_PER_APPLICATION"
    assert not ApplicationInstance.objects.exists()


# --- the task queue down ------------------------------------------------------------------------


def test_a_deployment_while_the_task_queue_is_down_is_an_internal_server_exception(
    operator_api, app, device
):
    from tests.support.broker import celery_broker, nothing_listens

    graph, override = payloads()
    arguments = {
        "DefaultRuntimeContextDevice": device.device_id,
        "ManifestPayload": {"PayloadData": graph},
        "ManifestOverridesPayload": {"PayloadData": override},
    }
    with (
        celery_broker(nothing_listens()),
        pytest.raises(operator_api.exceptions.InternalServerException) as raised,
    ):
        operator_api.create_application_instance(**arguments)
    error = error_details(raised)
    assert error["HTTPStatusCode"] == 503
    assert error["RetryAfterSeconds"] == 30
    assert "cannot reach its task queue (Redis)" in error["Message"]
    assert "not saved" in error["Message"]
    assert not ApplicationInstance.objects.exists()
    # Once it is back, the same call deploys.
    assert operator_api.create_application_instance(**arguments)["ApplicationInstanceId"]
    assert ApplicationInstance.objects.count() == 1
