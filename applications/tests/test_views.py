"""The application pages: the list and its filters, the instance page, its actions (remove,
pause/resume, replace/clone prefill), runtime roles, and who may do what."""

from __future__ import annotations

import json

import pytest

from applications import deployments, live, tasks
from applications.models import ApplicationInstance, RuntimeRole
from core.models import Installation
from devices.desired import build_desired
from tests.support.deploy import (
    URL,
    add_camera,
    camera_app_graph,
    current_step,
    post,
    report,
    wizard_app,
)
from tests.support.devices import make_device

pytestmark = pytest.mark.django_db
SECRET = "s3cr3t-Value-881"
# The wizard tests' fixtures: the device (conftest.py) and the app (below).


@pytest.fixture
def app(asset_store):
    """The inbound_network-shaped app: (patch, graph, override); the device: conftest.py."""
    return wizard_app()


def deploy(device, graph, override, name="inbound", **kwargs) -> ApplicationInstance:
    instance = deployments.request_deployment(
        name=name, device=device, manifest_text=graph, overrides_text=override, **kwargs
    )
    assert tasks.deploy_instance(instance.pk) == "requested"
    instance.refresh_from_db()
    return instance


@pytest.fixture
def running(app, device):
    _, graph, override = app
    instance = deploy(device, graph, override)
    report(device, instance, "RUNNING", [("code_node", "RUNNING", "")])
    return instance


@pytest.fixture
def camera_instance(app, device):
    """A running instance with two cameras, the second one started on signal."""
    account = Installation.get().account_id
    add_camera("door-east")
    add_camera("door-west")
    override = {
        "nodeGraphOverrides": {
            "envelopeVersion": "2021-01-01",
            "packages": [{"name": f"{account}::door-east", "version": "1.0"},
                         {"name": f"{account}::door-west", "version": "1.0"}],
            "nodes": [
                {"name": "door-east", "interface": f"{account}::door-east.door-east",
                 "launch": "onAppStart"},
                {"name": "door-west", "interface": f"{account}::door-west.door-west",
                 "launch": "onSignal"},
                {"name": "frames_override", "interface": "int32", "value": 25},
            ],
            "nodeOverrides": [
                {"replace": "camera_node", "with": [{"name": "door-east"}, {"name": "door-west"}]},
                {"replace": "frames", "with": [{"name": "frames_override"}]},
            ],
            "networkRoutingRules": [{"node": "code_node", "containerPort": 8080, "hostPort": 8095}],
        }
    }  # fmt: skip
    role = RuntimeRole.objects.create(name="metrics")
    instance = deploy(
        device, camera_app_graph(), json.dumps(override), name="entrance", runtime_role=role,
        description="Doors",
    )  # fmt: skip
    report(device, instance, "RUNNING",
           [("code_node", "RUNNING", ""), ("door-east", "RUNNING", ""),
            ("door-west", "PAUSED", "")])  # fmt: skip
    return instance


def page(client, instance: ApplicationInstance) -> str:
    response = client.get(f"/applications/{instance.application_instance_id}/")
    assert response.status_code == 200
    return response.content.decode()


# --- the list -----------------------------------------------------------------------------------


def test_list_shows_and_filters_instances(viewer_client, app, device):
    _, graph, override = app
    other = make_device(name="annex", provisioning_status="SUCCEEDED")
    done = deploy(device, graph, override, name="done-app")
    report(device, done, "RUNNING", [("code_node", "RUNNING", "")])
    pending = deploy(other, graph, override, name="pending-app")
    removing = deploy(device, graph, override.replace("8081", "8085"), name="removing-app")
    deployments.remove(removing)
    html = viewer_client.get("/applications/").content.decode()
    for instance in (done, pending, removing):
        assert f'href="/applications/{instance.application_instance_id}/"' in html
    assert f'id="app-status-{done.application_instance_id}"' in html
    assert 'data-status="DEPLOYMENT_SUCCEEDED"' in html and 'data-health="RUNNING"' in html
    assert "Application deployed successfully." in html
    assert 'ws-connect="/ws/live/?groups=fleet"' in html
    assert "Deploy application" not in html  # viewers do not deploy

    def names(query: str) -> set[str]:
        response = viewer_client.get(f"/applications/?{query}")
        return {row.record.name for row in response.context["table"].rows}

    assert names(f"device={other.device_id}") == {"pending-app"}
    assert names("status=DEPLOYMENT_SUCCEEDED") == {"done-app"}
    assert names("status=PROCESSING_DEPLOYMENT") == {"pending-app"}
    assert names("status=PROCESSING_REMOVAL") == {"removing-app"}
    assert names(f"status=PROCESSING_REMOVAL&device={other.device_id}") == set()
    response = viewer_client.get("/applications/?status=NOT_A_STATUS")
    assert "Select a valid choice" in response.content.decode()


# --- the instance page --------------------------------------------------------------------------


def test_instance_page_shows_status_timeline_nodes_and_payloads(viewer_client, camera_instance):
    instance = camera_instance
    aid = instance.application_instance_id
    html = page(viewer_client, instance)
    assert f'ws-connect="/ws/live/?groups=app-{aid}"' in html
    assert f'id="instance-status-{aid}" data-testid="instance-status"' in html
    assert 'data-status="DEPLOYMENT_SUCCEEDED" data-health="RUNNING"' in html
    assert f'id="instance-timeline-{aid}"' in html
    assert html.count('data-testid="timeline-event"') == 3  # pending, requested, succeeded
    assert f'id="instance-nodes-{aid}"' in html
    assert f'id="node-status-{aid}-door-west" data-testid="node-status-door-west"' in html
    assert 'data-status="PAUSED"' in html
    node = instance.node_instances.get(node_instance_id="door-east")
    assert node.patch_version[:8] in html and node.package_name == "door-east"
    assert "camera stream door-east" in html
    assert f'href="/devices/{instance.device.device_id}/"' in html
    assert "metrics" in html and "Doors" in html
    assert "frames_override" in html  # the overrides as deployed
    assert f'href="/applications/{aid}/graph.json"' in html
    # Viewers get no actions (the node buttons are hidden and have no form to submit).
    assert "Remove from device" not in html and "?replace=" not in html
    assert 'class="hide-operate"' in html and 'id="node-signal-form"' not in html
    download = viewer_client.get(f"/applications/{aid}/override.json")
    assert download["Content-Disposition"] == 'attachment; filename="override.json"'
    assert download.content.decode() == instance.overrides_payload
    assert viewer_client.get(f"/applications/{aid}/graph.json").content.decode() == (
        instance.manifest_payload
    )
    assert viewer_client.get(f"/applications/{aid}/secrets.json").status_code == 404


def test_operators_see_the_actions(operator_client, camera_instance):
    aid = camera_instance.application_instance_id
    html = page(operator_client, camera_instance)
    assert f'href="/applications/deploy/?replace={aid}"' in html
    assert f'href="/applications/deploy/?clone={aid}"' in html
    assert f'href="/applications/{aid}/remove/"' in html
    assert 'id="node-signal-form"' in html
    assert 'value="PAUSE:door-east"' in html  # running: it can be paused
    assert 'value="RESUME:door-west"' in html  # started on signal: it can be resumed
    assert "PAUSE:code_node" not in html and "RESUME:code_node" not in html


def test_the_live_partials_are_the_page_regions(camera_instance, django_capture_on_commit_callbacks,
                                                monkeypatch):  # fmt: skip
    sent = []
    monkeypatch.setattr("core.live.deliver", lambda groups, html: sent.append((groups, html)))
    instance = camera_instance
    aid = instance.application_instance_id
    with django_capture_on_commit_callbacks(execute=True):
        live.instance_updated(instance)
        live.nodes_updated(instance)
    (app_groups, app_html), (row_groups, row_html), (node_groups, node_html) = sent
    assert app_groups == [f"app-{aid}"] and node_groups == [f"app-{aid}"]
    assert row_groups == ["fleet", f"device-{instance.device.device_id}"]
    for region in ("instance-status", "instance-timeline", "instance-nodes"):
        assert f'id="{region}-{aid}"' in app_html
    assert f'id="app-status-{aid}"' in row_html and f'id="app-health-{aid}"' in row_html
    assert f'id="instance-nodes-{aid}"' in node_html and "instance-timeline" not in node_html
    assert "csrfmiddlewaretoken" not in app_html + node_html


# --- actions ------------------------------------------------------------------------------------


def test_remove_asks_first_then_removes(operator_client, running, device):
    aid = running.application_instance_id
    response = operator_client.get(f"/applications/{aid}/remove/")
    assert "Remove inbound from lobby-1?" in response.content.decode()
    running.refresh_from_db()
    assert running.status == "DEPLOYMENT_SUCCEEDED"
    response = operator_client.post(f"/applications/{aid}/remove/")
    assert response["Location"] == f"/applications/{aid}/"
    running.refresh_from_db()
    assert (running.status, running.desired_state) == ("REMOVAL_REQUESTED", "REMOVED")
    device.refresh_from_db()
    assert build_desired(device).applications == []
    # Again: nothing more happens.
    response = operator_client.post(f"/applications/{aid}/remove/", follow=True)
    assert "already removed or being removed" in response.content.decode()


def test_pause_and_resume_camera_nodes(operator_client, camera_instance, device):
    aid = camera_instance.application_instance_id
    signal_url = f"/applications/{aid}/signal/"
    response = operator_client.post(signal_url, {"signal": "PAUSE:door-east"}, follow=True)
    assert "Pausing door-east" in response.content.decode()
    response = operator_client.post(signal_url, {"signal": "RESUME:door-west"})
    assert response["Location"] == f"/applications/{aid}/"
    nodes = {n.node_instance_id: n.signal for n in camera_instance.node_instances.all()}
    assert nodes["door-east"] == "PAUSE" and nodes["door-west"] == "RESUME"
    device.refresh_from_db()
    [spec] = build_desired(device).model_dump(mode="json")["applications"]
    signals = {node["name"]: node["signal"] for node in spec["nodes"]}
    assert signals["door-east"] == "PAUSE" and signals["door-west"] == "RESUME"
    html = page(operator_client, camera_instance)
    assert 'value="RESUME:door-east"' in html and 'value="PAUSE:door-west"' in html
    # Only camera nodes, only known ones, only PAUSE/RESUME.
    response = operator_client.post(signal_url, {"signal": "PAUSE:code_node"}, follow=True)
    assert "not a camera node" in response.content.decode()
    response = operator_client.post(signal_url, {"signal": "STOP:door-east"}, follow=True)
    assert "Choose Pause or Resume" in response.content.decode()
    assert operator_client.get(signal_url).status_code == 405


def test_replace_prefills_the_wizard_and_replaces(operator_client, camera_instance, device):
    instance = camera_instance
    response = operator_client.get(f"{URL}?replace={instance.application_instance_id}")
    assert current_step(response) == "manifest"
    html = response.content.decode()
    assert "Replacing entrance." in html
    assert response.context["form"]["graph"].value() == instance.manifest_payload
    response = post(operator_client, "manifest", {"graph": instance.manifest_payload})
    assert response.context["form"]["name"].value() == "entrance"
    assert response.context["form"]["description"].value() == "Doors"
    response = post(operator_client, "details", {"name": "entrance", "description": "Doors v2"})
    assert response.context["form"]["runtime_role"].value() == instance.runtime_role_id
    response = post(operator_client, "role", {"runtime_role": instance.runtime_role_id})
    assert response.context["form"]["device"].value() == device.device_id
    response = post(operator_client, "device", {"device": device.device_id})
    form = response.context["form"]
    assert form["camera0"].value() == ["door-east", "door-west"]
    west = next(s for s in form.sources if s.name == "door-west")
    assert form[f"camera0_launch_{west.pk}"].value() == "onSignal"
    choice = {"camera0": ["door-east", "door-west"], f"camera0_launch_{west.pk}": "onSignal"}
    response = post(operator_client, "datasources", choice)
    form = response.context["form"]
    assert form["param2"].value() == 25  # frames, from the override
    assert form["param0"].value() == 0.5  # threshold: not overridden, the manifest's value
    assert form["route0"].value() == 8095  # the replaced instance's own port stays usable
    settings = {"param0": "0.5", "param2": "25", "param3": "lobby", "route0": "8095"}
    response = post(operator_client, "configure", settings)
    assert current_step(response) == "review"
    response = post(operator_client, "review")
    assert response.status_code == 302, response.content.decode()[-3000:]
    new = ApplicationInstance.objects.exclude(pk=instance.pk).get()
    assert new.replaces == instance and new.description == "Doors v2"
    # Once the new one runs, the old one is removed.
    assert tasks.deploy_instance(new.pk) == "requested"
    new.refresh_from_db()
    report(device, new, "RUNNING", [("code_node", "RUNNING", "")])
    instance.refresh_from_db()
    assert instance.desired_state == "REMOVED"


def test_clone_prefills_a_new_name_and_a_free_port(operator_client, camera_instance, device):
    instance = camera_instance
    response = operator_client.get(f"{URL}?clone={instance.application_instance_id}")
    assert "Cloning entrance." in response.content.decode()
    post(operator_client, "manifest", {"graph": instance.manifest_payload})
    response = post(operator_client, "details", {"name": "entrance-copy"})
    assert response.context["wizard"]["steps"].current == "role"
    post(operator_client, "role", {})
    response = post(operator_client, "device", {"device": device.device_id})
    response = post(operator_client, "datasources", {"camera0": ["door-east"]})
    # The original still runs on 8095 on this device: the clone is offered another port.
    assert response.context["form"]["route0"].value() == 8096
    settings = {"param0": "0.5", "param2": "25", "param3": "lobby", "route0": "8095"}
    response = post(operator_client, "configure", settings)
    assert "already used by application entrance" in response.content.decode()


def test_clone_prefills_the_name(operator_client, running):
    operator_client.get(f"{URL}?clone={running.application_instance_id}")
    response = post(operator_client, "manifest", {"graph": running.manifest_payload})
    assert response.context["form"]["name"].value() == "inbound-copy"
    assert operator_client.get(f"{URL}?clone=applicationInstance-nope").status_code == 404


# --- runtime roles ------------------------------------------------------------------------------


def test_runtime_roles_keep_values_secret(admin_client, viewer_client):
    response = admin_client.post("/applications/roles/add/", {
        "name": "metrics", "description": "Pushes metrics",
        "env-0-key": "API_TOKEN", "env-0-value": SECRET,
        "env-1-key": "REGION", "env-1-value": "eu-west-1",
        "env-2-key": "", "env-2-value": "",
    })  # fmt: skip
    assert response.status_code == 302, response.content.decode()[-2000:]
    role = RuntimeRole.objects.get(name="metrics")
    assert role.environment() == {"API_TOKEN": SECRET, "REGION": "eu-west-1"}
    assert SECRET not in role.environment_encrypted
    for client in (admin_client, viewer_client):
        html = client.get("/applications/roles/").content.decode()
        assert "API_TOKEN" in html and "saved as secret" in html
        assert SECRET not in html and "eu-west-1" not in html
    html = admin_client.get(f"/applications/roles/{role.pk}/").content.decode()
    assert "API_TOKEN" in html and SECRET not in html and "eu-west-1" not in html
    assert "saved as secret — leave empty to keep" in html
    # Edit: an empty value keeps the saved one; a value replaces it; remove deletes.
    response = admin_client.post(f"/applications/roles/{role.pk}/", {
        "name": "metrics", "description": "",
        "env-0-key": "API_TOKEN", "env-0-value": "", "env-0-saved": "1",
        "env-1-key": "REGION", "env-1-value": "", "env-1-saved": "1", "env-1-remove": "on",
        "env-2-key": "LEVEL", "env-2-value": "debug",
    })  # fmt: skip
    assert response.status_code == 302
    role.refresh_from_db()
    assert role.environment() == {"API_TOKEN": SECRET, "LEVEL": "debug"}


def test_runtime_role_variables_are_checked(admin_client):
    response = admin_client.post("/applications/roles/add/", {
        "name": "bad", "env-0-key": "1BAD", "env-0-value": "x",
        "env-1-key": "OK", "env-1-value": "a", "env-2-key": "OK", "env-2-value": "b",
        "env-3-key": "", "env-3-value": SECRET,
    })  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    assert "1BAD: start with a letter or _" in html
    assert "OK is given twice." in html
    assert "A value needs a variable name." in html
    assert SECRET not in html  # typed values are not echoed back
    assert not RuntimeRole.objects.exists()


def test_a_role_in_use_cannot_be_deleted(admin_client, running):
    role = RuntimeRole.objects.create(name="metrics")
    ApplicationInstance.objects.filter(pk=running.pk).update(runtime_role=role)
    response = admin_client.get(f"/applications/roles/{role.pk}/delete/")
    assert "is used by" in response.content.decode()
    response = admin_client.post(f"/applications/roles/{role.pk}/delete/", follow=True)
    assert "remove or replace those applications first" in response.content.decode()
    assert RuntimeRole.objects.filter(pk=role.pk).exists()
    # Once the instance is removed, the role can go; the removed instance loses the link.
    ApplicationInstance.objects.filter(pk=running.pk).update(status="REMOVAL_SUCCEEDED")
    response = admin_client.post(f"/applications/roles/{role.pk}/delete/")
    assert response.status_code == 302
    assert not RuntimeRole.objects.exists()
    running.refresh_from_db()
    assert running.runtime_role is None


# --- who may do what ----------------------------------------------------------------------------


def test_viewers_change_nothing(viewer_client, running):
    aid = running.application_instance_id
    role = RuntimeRole.objects.create(name="metrics")
    for url in (
        f"/applications/{aid}/remove/",
        f"/applications/{aid}/signal/",
        "/applications/deploy/",
        "/applications/roles/add/",
        f"/applications/roles/{role.pk}/",
        f"/applications/roles/{role.pk}/delete/",
    ):
        assert viewer_client.post(url, {}).status_code == 403, url
    for url in (f"/applications/{aid}/remove/", "/applications/deploy/",
                "/applications/roles/add/"):  # fmt: skip
        assert viewer_client.get(url).status_code == 403, url
    running.refresh_from_db()
    assert running.desired_state == "RUNNING"
    assert viewer_client.get("/applications/roles/").status_code == 200


def test_operators_deploy_but_do_not_manage_roles(operator_client, running):
    role = RuntimeRole.objects.create(name="metrics")
    assert operator_client.get("/applications/deploy/").status_code == 200
    assert operator_client.get("/applications/roles/").status_code == 200
    assert "Add runtime role" not in operator_client.get("/applications/roles/").content.decode()
    assert operator_client.get("/applications/roles/add/").status_code == 403
    assert operator_client.post(f"/applications/roles/{role.pk}/delete/").status_code == 403
