"""The deployment workflow on the console side: validation, resolution, statuses from reports."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from applications import deployments, tasks
from applications.models import ApplicationInstance
from applications.resolve import DeployRefused, check_payloads
from devices.desired import build_desired
from devices.ingest import expire_leases
from devices.models import Device
from tests.support.deploy import (
    camera_app,
    inbound_network_app,
    register_camera,
    register_inbound_network_package,
    report,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(asset_store):
    patch = register_inbound_network_package()
    graph, override = inbound_network_app()
    return patch, graph, override


def deploy(device, graph, override, name="inbound"):
    instance = deployments.request_deployment(
        name=name, device=device, manifest_text=graph, overrides_text=override
    )
    assert tasks.deploy_instance(instance.pk) == "requested"
    instance.refresh_from_db()
    return instance


def test_a_code_only_app_resolves_into_the_desired_state(device, app):
    patch, graph, override = app
    instance = deploy(device, graph, override)
    assert instance.status == "DEPLOYMENT_REQUESTED"
    assert instance.status_description == "Deployment Workflow has completed data validation."
    [node] = instance.node_instances.all()
    assert node.node_id == f"inbound_network_code-1.0-{patch[:8]}-code_interface"
    assert node.package_name == "inbound_network_code" and node.patch_version == patch
    device.refresh_from_db()
    [spec] = build_desired(device).model_dump(mode="json")["applications"]
    assert spec["application_instance_id"] == instance.application_instance_id
    [code] = spec["nodes"]
    assert code["kind"] == "code"
    assert code["assets"][0]["implementation_type"] == "container"
    assert (
        code["assets"][0]["descriptor"]["runtimeDescriptor"]["entry"]["name"] == "/panorama/app.py"
    )
    assert spec["network_routing_rules"] == [
        {"node": "code_node", "container_port": 8080, "host_port": 8081}
    ]


def test_reports_move_the_instance_to_succeeded_and_every_step_is_in_the_timeline(device, app):
    _, graph, override = app
    instance = deploy(device, graph, override)
    report(device, instance, "INSTALL_IN_PROGRESS")
    assert instance.status == "DEPLOYMENT_IN_PROGRESS"
    report(device, instance, "RUNNING", [("code_node", "RUNNING", "")])
    assert (instance.status, instance.health_status) == ("DEPLOYMENT_SUCCEEDED", "RUNNING")
    assert instance.status_description == "Application deployed successfully."
    assert list(instance.events.values_list("status", flat=True)) == [
        "DEPLOYMENT_PENDING",
        "DEPLOYMENT_REQUESTED",
        "DEPLOYMENT_IN_PROGRESS",
        "DEPLOYMENT_SUCCEEDED",
    ]
    assert instance.node_instances.get().current_status == "RUNNING"
    # Later the node fails: health ERROR, with the node and its reason.
    report(device, instance, "RUNNING", [("code_node", "ERROR", "exited with status 1")])
    assert instance.health_status == "ERROR"
    assert "code_node: exited with status 1" in instance.status_description


def test_an_appliance_gone_offline_leaves_its_apps_health_unknown_until_it_reports(device, app):
    _, graph, override = app
    instance = deploy(device, graph, override)
    report(device, instance, "RUNNING", [("code_node", "RUNNING", "")])
    Device.objects.filter(pk=device.pk).update(lease_expires_at=timezone.now())
    assert expire_leases() == [device.device_id]
    instance.refresh_from_db()
    assert (instance.status, instance.health_status) == ("DEPLOYMENT_SUCCEEDED", "NOT_AVAILABLE")
    assert instance.status_description == (
        "Device lobby-1 is offline: the application's health is unknown until it is back."
    )
    # Back: the agent reports every instance again after it reconnects.
    report(device, instance, "RUNNING", [("code_node", "RUNNING", "")])
    assert instance.health_status == "RUNNING"
    assert instance.status_description == "Application deployed successfully."
    assert list(instance.events.values_list("health_status", flat=True))[-2:] == [
        "NOT_AVAILABLE",
        "RUNNING",
    ]


def test_a_failure_names_the_node_and_the_devices_reason(device, app):
    _, graph, override = app
    instance = deploy(device, graph, override)
    report(device, instance, "INSTALL_ERROR", message="code_node: asset 1f3a failed its sha256")
    assert instance.status == "DEPLOYMENT_FAILED"
    assert "code_node: asset 1f3a failed its sha256" in instance.status_description


def test_an_offline_device_makes_the_deployment_wait_and_say_so(device, app):
    _, graph, override = app
    device.connection_status = "OFFLINE"
    device.save()
    instance = deploy(device, graph, override)
    assert instance.status == "DEPLOYMENT_REQUESTED"
    assert "Waiting for device lobby-1 to come online" in instance.status_description
    assert tasks.expire_deployments() == 0


def test_removal(device, app):
    _, graph, override = app
    instance = deploy(device, graph, override)
    report(device, instance, "RUNNING", [("code_node", "RUNNING", "")])
    deployments.remove(instance)
    device.refresh_from_db()
    assert build_desired(device).applications == []
    report(device, instance, "STOPPED")
    assert instance.status == "REMOVAL_SUCCEEDED"


def test_invalid_payloads_give_every_error_at_its_place(device, app):
    _, graph, override = app
    broken = json.loads(graph)
    broken["nodeGraph"]["nodes"][0]["interface"] = "123456789012::missing_pkg.code_interface"
    broken["nodeGraph"]["packages"].append({"name": "123456789012::missing_pkg", "version": "1.0"})
    errors = check_payloads(json.dumps(broken), "{not json")
    places = {(error.document, error.path) for error in errors}
    assert ("manifest", "/nodeGraph/packages/1") in places
    assert any(document == "overrides" for document, _ in places)
    with pytest.raises(DeployRefused):
        deployments.request_deployment(
            name="x", device=device, manifest_text=json.dumps(broken), overrides_text=override
        )
    assert not ApplicationInstance.objects.exists()


def test_quotas(device, app, settings):
    _, graph, override = app
    settings.APPLICATIONS_PER_DEVICE = 1
    deploy(device, graph, override, name="first")
    with pytest.raises(deployments.QuotaExceeded, match="APPLICATIONS_PER_DEVICE"):
        deployments.request_deployment(
            name="second",
            device=device,
            manifest_text=graph,
            overrides_text=override.replace("8081", "8085"),
        )


def test_a_host_port_another_application_holds_is_refused_at_its_place(device, app):
    _, graph, override = app
    first = deploy(device, graph, override, name="first")
    with pytest.raises(DeployRefused) as refused:
        deployments.request_deployment(
            name="second", device=device, manifest_text=graph, overrides_text=override
        )
    [error] = refused.value.errors
    assert (error.document, error.path) == (
        "overrides",
        "/nodeGraphOverrides/networkRoutingRules/0/hostPort",
    )
    assert "Host port 8081 is already used by application first" in error.message
    # The instance it replaces does not hold its ports against its replacement.
    deployments.request_deployment(
        name="first-v2", device=device, manifest_text=graph, overrides_text=override,
        replaces=first,
    )  # fmt: skip


@pytest.fixture
def camera():
    return register_camera("front_door", "rtsp://10.0.0.5/stream1", "cam", "Door-pass-1")


def test_a_running_app_keeps_its_stream_when_the_source_is_deleted_until_it_is_removed(
    device, app, camera, operator_client
):
    from applications.camera_usage import users
    from applications.models import NodeInstance

    instance = deploy(device, *camera_app(["front_door"], 8082))
    report(
        device, instance, "RUNNING", [("code_node", "RUNNING", ""), ("front_door", "RUNNING", "")]
    )
    assert users(camera) == [instance]
    listing = operator_client.get("/datasources/").content.decode()
    assert instance.name in listing
    api = operator_client.get(f"/api/datasources/{camera.pk}/").json()
    assert api["used_by"] == [
        {"application_instance_id": instance.application_instance_id, "name": instance.name,
         "device_id": device.device_id}
    ]  # fmt: skip
    page = operator_client.get(f"/datasources/{camera.pk}/delete/").content.decode()
    assert "These applications use this stream" in page and instance.name in page
    assert operator_client.post(f"/datasources/{camera.pk}/delete/").status_code == 302

    # Deleting the stream does not stop the application: the device still gets it.
    device.refresh_from_db()
    [spec] = build_desired(device).model_dump(mode="json")["applications"]
    stream = next(node for node in spec["nodes"] if node["name"] == "front_door")["stream"]
    assert stream == {
        "url": "rtsp://10.0.0.5/stream1",
        "username": "cam",
        "password": "Door-pass-1",
        "sealed": "",
        "files": [],
        "loop_count": 0,
        "fps": 0.0,
    }

    # Once the application is removed, no copy of the credentials is left anywhere.
    deployments.remove(instance)
    report(device, instance, "STOPPED")
    node = NodeInstance.objects.get(instance=instance, node_instance_id="front_door")
    assert (node.stream_url, node.stream_username_encrypted, node.stream_password_encrypted) == (
        "",
        "",
        "",
    )


def test_a_patch_in_use_cannot_be_deregistered_until_its_instance_is_removed(device, app):
    from applications.models import PatchVersion
    from applications.registry import PatchInUse, deregister_patch, patch_users

    patch_hash, graph, override = app
    instance = deploy(device, graph, override)
    patch = PatchVersion.objects.get(patch=patch_hash)
    assert patch_users(patch) == [instance.name]
    with pytest.raises(PatchInUse, match=instance.name):
        deregister_patch(patch)
    deployments.remove(instance)
    report(device, instance, "STOPPED")
    assert patch_users(patch) == []


GPU = [{"type": "hardware_access",
        "inferenceAccelerators": [{"deviceType": "nvhost_gpu",
                                   "sharedResourcePolicy": {"policy": "allow_all"}}]}]  # fmt: skip


def test_gpu_access_travels_to_the_device_and_needs_a_device_with_a_gpu(device, asset_store):
    register_inbound_network_package(requirements=GPU)
    graph, override = inbound_network_app()
    with pytest.raises(DeployRefused) as refused:
        deployments.request_deployment(
            name="gpu", device=device, manifest_text=graph, overrides_text=override
        )
    [error] = refused.value.errors
    assert error.document == "device"
    assert error.message == (
        "Node code_node (package inbound_network_code 1.0) asks for GPU access (hardware_access "
        "in its package.json requirements), and device lobby-1 reports no GPU."
    )
    assert ApplicationInstance.objects.count() == 0  # nothing was stored
    device.accelerators = ["nvidia"]
    device.save()
    instance = deploy(device, graph, override, name="gpu")
    assert instance.status == "DEPLOYMENT_REQUESTED"
    device.refresh_from_db()
    [spec] = build_desired(device).model_dump(mode="json")["applications"]
    assert spec["nodes"][0]["assets"][0]["requirements"] == GPU


def test_the_quirky_spelling_of_gpu_access_counts_too(device, asset_store):
    quirk = [{"type": "hardware_access", "nvAccelerators": GPU[0]["inferenceAccelerators"]}]
    register_inbound_network_package(requirements=quirk)
    graph, override = inbound_network_app()
    with pytest.raises(DeployRefused, match="asks for GPU access"):
        deployments.request_deployment(
            name="gpu", device=device, manifest_text=graph, overrides_text=override
        )
