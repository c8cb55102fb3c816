"""The deploy API and the console's wizard agree: same application, same quotas and ports."""

from __future__ import annotations

from typing import Any

import pytest

from applications import deployments
from applications.models import ApplicationInstance
from tests.support.deploy import (
    add_camera,
    body,
    camera_app_graph,
    deploy,
    inbound_network_app,
    post,
    run_workflow,
    url,
    walk_to,
)
from tests.support.devices import connected_device

pytestmark = pytest.mark.django_db
API = "/api/application-instances/"


# --- the API and the wizard deploy the same thing ----------------------------------------------


def comparable(instance: ApplicationInstance) -> dict[str, Any]:
    """The resolved spec and node instances, without what names this very instance."""
    spec = dict(instance.spec)
    for key in ("application_instance_id", "name"):
        spec.pop(key)
    nodes = [
        (n.node_instance_id, n.kind, n.node_id, n.launch, n.data_source_id, n.package_name)
        for n in instance.node_instances.order_by("node_instance_id")
    ]
    return {"spec": spec, "nodes": nodes}


def test_the_api_and_the_wizard_deploy_the_same_application(operator_client, app, device):
    cameras = [add_camera("door-east"), add_camera("door-west")]
    graph = camera_app_graph()
    walk_to(
        operator_client, "review", graph, device, name="entrance",
        datasources={"camera0": ["door-east", "door-west"],
                     f"camera0_launch_{cameras[1].pk}": "onSignal"},
        configure={"param0": "0.75", "param1": "on", "param2": "12", "param3": "hall",
                   "route0": "8090"},
    )  # fmt: skip
    response = post(operator_client, "review")
    assert response.status_code == 302
    by_wizard = ApplicationInstance.objects.get(name="entrance")
    override = by_wizard.overrides_payload

    # The same documents through the API (to another device: the spec does not depend on it).
    annex = connected_device("annex")
    response = deploy(
        operator_client,
        {"name": "entrance-api", "device": annex.device_id, "manifest_payload": graph,
         "manifest_overrides_payload": override, "description": "From the test"},
    )  # fmt: skip
    assert response.status_code == 201, response.content
    by_api = ApplicationInstance.objects.get(name="entrance-api")
    # And through the workflow's own entry point.
    direct = deployments.request_deployment(
        name="entrance-direct", device=connected_device("yard"), manifest_text=graph,
        overrides_text=override,
    )  # fmt: skip
    for instance in (by_wizard, by_api, direct):
        run_workflow(instance.application_instance_id)
        instance.refresh_from_db()
    assert by_api.manifest_payload == by_wizard.manifest_payload
    assert by_api.overrides_payload == by_wizard.overrides_payload
    assert comparable(by_api) == comparable(by_wizard) == comparable(direct)
    # And it is the application the operator chose, not merely the same one three times.
    nodes = {node["name"]: node for node in by_api.spec["nodes"]}
    assert nodes["door-west"]["launch"] == "onSignal"
    assert nodes["threshold_override"]["value"] == 0.75
    assert by_api.spec["edges"] == [
        {"producer": "door-east.video_out", "consumer": "code_node.video_in"},
        {"producer": "door-west.video_out", "consumer": "code_node.video_in"},
    ]
    assert by_api.spec["network_routing_rules"] == [
        {"node": "code_node", "container_port": 8080, "host_port": 8090}
    ]


# --- the API and the console agree ---------------------------------------------------------


def test_a_host_port_in_use_on_the_device_is_refused(operator_client, app, device):
    assert deploy(operator_client, body(device, 8081, name="first")).status_code == 201
    response = deploy(operator_client, body(device, 8081, name="second"))
    assert response.status_code == 400, response.content
    assert not ApplicationInstance.objects.filter(name="second").exists()


def test_the_wizard_replaces_on_a_full_device_as_the_api_does(
    operator_client, app, device, settings
):
    settings.APPLICATIONS_PER_DEVICE = 1
    first = deploy(operator_client, body(device, 8081, name="one")).json()
    first_id = first["application_instance_id"]
    response = deploy(operator_client, body(device, 8082, name="one-v2", replaces=first_id))
    assert response.status_code == 201  # the API: the replaced instance does not count
    ApplicationInstance.objects.filter(name="one-v2").delete()
    # The wizard, opened with Replace on the instance page.
    operator_client.get(f"/applications/deploy/?replace={first_id}")
    for step, data in (
        ("manifest", {"graph": first["manifest_payload"]}),
        ("details", {"name": "one-v3"}),
        ("role", {"runtime_role": ""}),
        ("device", {"device": device.device_id}),
    ):
        response = post(operator_client, step, data)
        assert not response.context["form"].errors, (step, response.context["form"].errors)
    assert response.context["wizard"]["steps"].current == "configure"


def test_the_wizard_frees_the_slot_of_a_removed_instance_as_the_api_does(
    operator_client, app, device, settings
):
    settings.APPLICATIONS_PER_DEVICE = 1
    first = deploy(operator_client, body(device, 8081, name="one")).json()[
        "application_instance_id"
    ]
    assert operator_client.delete(url(first)).status_code == 202  # REMOVAL_REQUESTED
    graph, _ = inbound_network_app(8082)
    response = walk_to(operator_client, "datasources", graph, device, name="two")
    assert response.context["wizard"]["steps"].current == "configure"
