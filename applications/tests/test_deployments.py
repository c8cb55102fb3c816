"""The deployment workflow on the console side: validation, resolution, statuses from reports."""

from __future__ import annotations

import json

import pytest

from applications import deployments, tasks
from applications.models import ApplicationInstance
from applications.resolve import DeployRefused, check_payloads
from applications.tests.deploy_support import inbound_network_app, register_inbound_network_package
from devicelink.apps import ApplicationReport
from devices.desired import build_desired
from devices.models import Device

pytestmark = pytest.mark.django_db


@pytest.fixture
def device():
    return Device.objects.create(
        name="lobby-1", provisioning_status="SUCCEEDED", connection_status="ONLINE"
    )


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


def report(device, instance, status, nodes=(), message="", generation=None):
    deployments.apply_report(
        device,
        ApplicationReport(
            application_instance_id=instance.application_instance_id,
            generation=instance.generation if generation is None else generation,
            status=status,
            message=message,
            nodes=[{"name": n, "status": s, "message": m} for n, s, m in nodes],
        ),
    )
    instance.refresh_from_db()


def test_a_code_only_app_resolves_into_the_desired_state(device, app):
    patch, graph, override = app
    instance = deploy(device, graph, override)
    assert instance.status == "DEPLOYMENT_REQUESTED"
    assert instance.status_description == "Deployment Workflow has completed data validation."
    [node] = instance.node_instances.all()
    assert node.node_id == f"inbound_network_code-1.0-{patch[:8]}-code_interface"
    assert node.package_name == "inbound_network_code" and node.patch_version == patch
    device.refresh_from_db()
    [spec] = build_desired(device).applications
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
            name="second", device=device, manifest_text=graph, overrides_text=override
        )
