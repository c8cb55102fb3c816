"""The deploy wizard, step by step, with the Django test client: every step's validation, the
override it generates, and the deployment it requests."""

from __future__ import annotations

import json

import pytest

from applications import tasks
from applications.models import ApplicationInstance, RuntimeRole
from applications.resolve import check_payloads
from applications.wizard import error_lines
from core.models import Installation
from manifests.nodes import REGEX_TIME_LIMIT_S
from tests.support.deploy import (
    ACCOUNT,
    PACKAGE,
    PREFIX,
    URL,
    add_camera,
    camera_app_graph,
    current_step,
    post,
    walk_to,
    wizard_app,
)
from tests.support.devices import make_device

pytestmark = pytest.mark.django_db
# --- fixtures (the device: conftest.py) ----------------------------------------------------------


@pytest.fixture
def app(asset_store):
    """The inbound_network-shaped app: (patch, graph, override)."""
    return wizard_app()


@pytest.fixture
def cameras(db):
    return [add_camera("door-east"), add_camera("door-west", check="FAILED")]


# --- Manifest -----------------------------------------------------------------------------------


def test_manifest_errors_are_shown_at_their_place(operator_client, app):
    _, graph, _ = app
    broken = json.loads(graph)
    broken["nodeGraph"]["nodes"][0]["interface"] = f"{ACCOUNT}::missing_pkg.code_interface"
    broken["nodeGraph"]["packages"].append({"name": f"{ACCOUNT}::missing_pkg", "version": "1.0"})
    broken["nodeGraph"]["edges"] = [{"producer": "nowhere.video_out", "consumer": "code_node.x"}]
    text = json.dumps(broken, indent=2)
    operator_client.get(URL)
    response = post(operator_client, "manifest", {"graph": text})
    assert current_step(response) == "manifest"
    form = response.context["form"]
    paths = [error["path"] for error in form.payload_errors]
    assert "/nodeGraph/packages/1" in paths
    assert any(path.startswith("/nodeGraph/edges/0") for path in paths)
    html = response.content.decode()
    assert 'data-path="/nodeGraph/packages/1"' in html
    assert "is not registered on this console" in html
    assert "Register it first" in html  # the hint
    # Each error also sits under the line it is about, in the listing of the manifest.
    lines = text.split("\n")
    name_line = next(n for n, line in enumerate(lines, 1) if '::missing_pkg",' in line)
    error = next(e for e in form.payload_errors if e["path"] == "/nodeGraph/packages/1")
    assert error["line"] == name_line - 1  # the item starts on its "{" line
    assert f'id="manifest-line-{error["line"]}" class="table-danger"' in html
    assert "The manifest has" in html


def test_manifest_must_be_given_and_be_json(operator_client, app):
    operator_client.get(URL)
    response = post(operator_client, "manifest", {"graph": "  "})
    assert "Paste the application manifest" in response.content.decode()
    response = post(operator_client, "manifest", {"graph": '{"nodeGraph": '})
    assert current_step(response) == "manifest"
    assert response.context["form"].payload_errors[0]["path"] == ""


def test_an_uploaded_manifest_is_read(operator_client, app, device):
    from django.core.files.uploadedfile import SimpleUploadedFile

    _, graph, _ = app
    operator_client.get(URL)
    upload = SimpleUploadedFile("graph.json", graph.encode(), content_type="application/json")
    response = operator_client.post(
        URL, {f"{PREFIX}-current_step": "manifest", "manifest-graph_file": upload}
    )
    assert current_step(response) == "details"


def test_a_camera_placeholder_must_be_overridable(operator_client, app):
    graph = json.loads(camera_app_graph())
    del graph["nodeGraph"]["nodes"][1]["overrideMandatory"]
    graph["nodeGraph"]["nodes"][1]["overridable"] = False
    operator_client.get(URL)
    response = post(operator_client, "manifest", {"graph": json.dumps(graph)})
    [error] = response.context["form"].payload_errors
    assert error["path"] == "/nodeGraph/nodes/1/overridable"


def test_error_lines_find_members_and_fall_back_to_the_parent():
    text = '{\n  "a": [\n    1,\n    {"b": 2}\n  ]\n}'
    assert error_lines(text, ["/a/1/b", "/a/1/missing", "/a/0", "", "/zzz"]) == [4, 4, 3, 1, 1]
    assert error_lines('{"a": [1, ', ["/a/0"]) == [1]


# --- Details, Runtime role, Device ---------------------------------------------------------------


def test_name_is_checked(operator_client, app, device):
    _, graph, _ = app
    walk_to(operator_client, "details", graph, device)
    response = post(operator_client, "details", {"name": "my app", "description": "x" * 256})
    form = response.context["form"]
    assert "Use only letters a-z A-Z, digits 0-9" in form.errors["name"][0]
    assert "at most 255 characters" in form.errors["description"][0]


def test_devices_show_their_application_count_online_first_and_a_full_one_is_refused(
    operator_client, app, device, settings
):
    _, graph, _ = app
    settings.APPLICATIONS_PER_DEVICE = 1
    offline = make_device(
        name="annex", provisioning_status="SUCCEEDED", connection_status="OFFLINE"
    )
    make_device(name="not-set-up")  # AWAITING_PROVISIONING: not offered
    ApplicationInstance.objects.create(name="busy", device=device, status="DEPLOYMENT_SUCCEEDED")
    response = walk_to(operator_client, "device", graph, device)
    assert current_step(response) == "device"
    rows = response.context["form"].rows()
    assert [d.name for d in rows] == ["lobby-1", "annex"]  # online first
    html = response.content.decode()
    assert "1 / 1 applications — full" in html and "0 / 1 applications" in html
    assert "the deployment waits until annex comes online" in html
    assert "not-set-up" not in html
    response = post(operator_client, "device", {"device": device.device_id})
    assert "already runs 1 of the 1 applications" in response.content.decode()
    assert "APPLICATIONS_PER_DEVICE" in response.content.decode()
    response = post(operator_client, "device", {"device": offline.device_id})
    assert current_step(response) == "configure"  # offline is allowed; no cameras: no data sources


# --- Data sources -------------------------------------------------------------------------------


def test_data_sources_step_lists_cameras_with_their_last_check(
    operator_client, app, device, cameras
):
    response = walk_to(operator_client, "datasources", camera_app_graph(), device)
    assert current_step(response) == "datasources"
    html = response.content.decode()
    assert "Entrance cameras" in html and "Doors, inside." in html
    assert 'data-status="SUCCEEDED"' in html and "H264 1280x720 at 15 fps" in html
    assert 'data-status="FAILED"' in html and "connection refused" in html
    # None chosen: refused, naming the camera input.
    response = post(operator_client, "datasources", {})
    assert "Choose at least one data source for Entrance cameras." in response.content.decode()


def test_data_sources_are_limited_per_application(operator_client, app, device, settings):
    settings.STREAMS_PER_APPLICATION = 2
    sources = [add_camera(f"cam-{n}", check=None) for n in range(3)]
    walk_to(operator_client, "datasources", camera_app_graph(), device)
    response = post(operator_client, "datasources", {"camera0": [s.name for s in sources]})
    assert current_step(response) == "datasources"
    assert "You chose 3 camera streams; an application can use at most 2" in (
        response.content.decode()
    )
    response = post(operator_client, "datasources", {"camera0": ["cam-0", "cam-1"]})
    assert current_step(response) == "configure"


# --- Configure ----------------------------------------------------------------------------------


def test_a_constraint_regex_that_backtracks_for_ever_is_stopped_with_a_clear_error(
    operator_client, app, device, cameras
):
    graph = json.loads(camera_app_graph())
    label = graph["nodeGraph"]["nodes"][5]
    label["decorator"] = {"constraintRegex": "lobby|(a|a)+"}  # exponential on "aaa…!"
    response = walk_to(
        operator_client, "configure", json.dumps(graph), device,
        datasources={"camera0": ["door-east"]},
    )  # fmt: skip
    answers = {"param0": "0.75", "param2": "12", "param3": "a" * 29 + "!", "route0": "8090"}
    response = post(operator_client, "configure", answers)
    assert response.context["form"].errors["param3"] == [
        "This value could not be checked against the pattern lobby|(a|a)+ within "
        f"{REGEX_TIME_LIMIT_S:g} s: the application's package needs a simpler pattern, or "
        "enter a shorter value."
    ]


def test_parameters_get_widgets_by_type_defaults_and_their_constraint(
    operator_client, app, device, cameras
):
    response = walk_to(
        operator_client, "configure", camera_app_graph(), device,
        datasources={"camera0": ["door-east"]},
    )  # fmt: skip
    assert current_step(response) == "configure"
    html = response.content.decode()
    assert 'name="configure-param0" id="id_configure-param0" value="0.5"' in html
    assert 'type="number" step="any"' in html  # float32
    assert 'type="checkbox" name="configure-param1"' in html  # boolean
    assert 'value="10" aria-describedby="id_configure-param2-help" type="number" step="1"' in html
    assert 'value="lobby" aria-describedby="id_configure-param3-help" type="text"' in html
    assert "Detection threshold" in html and "A number from 0 to 1" in html
    assert "fixed" not in [p.name for p in response.context["form"].graph.parameters]
    answers = {"param0": "0.75", "param2": "12", "param3": "hall", "route0": "8090"}
    response = post(operator_client, "configure", {**answers, "param0": "1.5"})
    assert response.context["form"].errors["param0"] == [
        "A number from 0 to 1, with up to two decimals."
    ]
    response = post(operator_client, "configure", {**answers, "param2": "2.5"})
    assert "param2" in response.context["form"].errors
    response = post(operator_client, "configure", answers)
    assert current_step(response) == "review"


def test_a_host_port_used_on_the_device_is_refused(operator_client, app, device):
    _, graph, override = app
    other = ApplicationInstance.objects.create(
        name="web", device=device, status="DEPLOYMENT_SUCCEEDED",
        spec={"network_routing_rules": [{"node": "n", "container_port": 80, "host_port": 8080}]},
    )  # fmt: skip
    ApplicationInstance.objects.create(  # still pending: its payloads say which port
        name="pending", device=device, manifest_payload=graph, overrides_payload=override
    )
    ApplicationInstance.objects.create(  # removed: its port is free again
        name="gone", device=device, status="REMOVAL_SUCCEEDED",
        spec={"network_routing_rules": [{"node": "n", "container_port": 80, "host_port": 8082}]},
    )  # fmt: skip
    response = walk_to(operator_client, "configure", graph, device)
    form = response.context["form"]
    [route] = form.graph.routes
    assert (route.node, route.container_port, route.in_graph) == ("code_node", 8080, False)
    # 8080 (the container port) is taken, and 8081 too: the first free one is offered.
    assert form["route0"].value() == 8082
    response = post(operator_client, "configure", {"route0_on": "on", "route0": "8080"})
    assert response.context["form"].errors["route0"] == [
        f"Host port 8080 is already used by application {other.name} on device lobby-1. "
        "Choose another port."
    ]
    response = post(operator_client, "configure", {"route0_on": "on", "route0": "9001"})
    assert "less than or equal to 9000" in response.context["form"].errors["route0"][0]
    response = post(operator_client, "configure", {"route0_on": "on", "route0": "8082"})
    assert current_step(response) == "review"


# --- Review and Deploy ----------------------------------------------------------------------------


def test_the_generated_override_is_exact_valid_and_deployed(operator_client, app, device, cameras):
    account = Installation.get().account_id
    role = RuntimeRole.objects.create(name="metrics")
    graph = camera_app_graph()
    response = walk_to(
        operator_client, "review", graph, device, name="entrance", runtime_role=str(role.pk),
        datasources={"camera0": ["door-east", "door-west"],
                     f"camera0_launch_{cameras[1].pk}": "onSignal"},
        configure={"param0": "0.75", "param1": "on", "param2": "12", "param3": "hall",
                   "route0": "8090"},
    )  # fmt: skip
    assert current_step(response) == "review"
    expected = {
        "nodeGraphOverrides": {
            "envelopeVersion": "2021-01-01",
            "packages": [
                {"name": f"{account}::door-east", "version": "1.0"},
                {"name": f"{account}::door-west", "version": "1.0"},
            ],
            "nodes": [
                {"name": "door-east", "interface": f"{account}::door-east.door-east",
                 "launch": "onAppStart"},
                {"name": "door-west", "interface": f"{account}::door-west.door-west",
                 "launch": "onSignal"},
                {"name": "threshold_override", "interface": "float32", "value": 0.75},
                {"name": "verbose_override", "interface": "boolean", "value": True},
                {"name": "frames_override", "interface": "int32", "value": 12},
                {"name": "label_override", "interface": "string", "value": "hall"},
            ],
            "nodeOverrides": [
                {"replace": "camera_node", "with": [{"name": "door-east"}, {"name": "door-west"}]},
                {"replace": "threshold", "with": [{"name": "threshold_override"}]},
                {"replace": "verbose", "with": [{"name": "verbose_override"}]},
                {"replace": "frames", "with": [{"name": "frames_override"}]},
                {"replace": "label", "with": [{"name": "label_override"}]},
            ],
            "networkRoutingRules": [{"node": "code_node", "containerPort": 8080, "hostPort": 8090}],
        }
    }  # fmt: skip
    override = response.context["override"]
    assert json.loads(override) == expected
    assert check_payloads(graph, override) == []
    assert "door-west (starts paused)" in response.content.decode()
    download = operator_client.get(URL + "?download=override.json")
    assert download["Content-Disposition"] == 'attachment; filename="override.json"'
    assert download.content.decode() == override
    # Deploy.
    response = post(operator_client, "review")
    instance = ApplicationInstance.objects.get(name="entrance")
    assert response.status_code == 302
    assert response["Location"] == f"/applications/{instance.application_instance_id}/"
    assert (instance.device, instance.runtime_role, instance.description) == (
        device,
        role,
        "From the test",
    )
    assert instance.manifest_payload == graph and instance.overrides_payload == override
    assert instance.status == "DEPLOYMENT_PENDING"
    assert tasks.deploy_instance(instance.pk) == "requested"
    instance.refresh_from_db()
    assert instance.status == "DEPLOYMENT_REQUESTED"
    nodes = {n.node_instance_id: n for n in instance.node_instances.all()}
    assert nodes["door-east"].data_source == cameras[0] and nodes["door-west"].launch == "onSignal"
    parameters = {n["name"]: n["value"] for n in instance.spec["nodes"] if n["kind"] == "parameter"}
    assert parameters == {
        "threshold_override": 0.75, "verbose_override": True, "frames_override": 12,
        "label_override": "hall", "fixed": "kept",
    }  # fmt: skip


def test_deploying_the_inbound_app_confirms_its_port(operator_client, app, device):
    _, graph, _ = app
    walk_to(operator_client, "review", graph, device,
            configure={"route0_on": "on", "route0": "8081"})  # fmt: skip
    response = post(operator_client, "review")
    assert response.status_code == 302
    instance = ApplicationInstance.objects.get()
    override = json.loads(instance.overrides_payload)["nodeGraphOverrides"]
    assert override["networkRoutingRules"] == [
        {"node": "code_node", "containerPort": 8080, "hostPort": 8081}
    ]
    assert tasks.deploy_instance(instance.pk) == "requested"
    instance.refresh_from_db()
    assert instance.spec["network_routing_rules"] == [
        {"node": "code_node", "container_port": 8080, "host_port": 8081}
    ]
    # The session's wizard data is gone: a new visit starts afresh.
    assert current_step(operator_client.get(URL)) == "manifest"


def test_resource_limits_are_set_in_the_details_and_shown_in_the_review(
    operator_client, app, device
):
    _, graph, _ = app
    details = {"name": "limited", "description": "", "memory_limit_mib": "32"}
    walk_to(operator_client, "details", graph, device)
    response = post(operator_client, "details", details)
    assert "Ensure this value is greater than or equal to 64." in str(
        response.context["form"].errors["memory_limit_mib"]
    )
    response = walk_to(
        operator_client, "review", graph, device,
        details={**details, "memory_limit_mib": "512", "cpu_limit": "1.5"},
        configure={"route0_on": "on", "route0": "8081"},
    )  # fmt: skip
    assert "memory 512 MiB, CPU 1.5" in response.content.decode()
    assert post(operator_client, "review").status_code == 302
    instance = ApplicationInstance.objects.get()
    assert (instance.memory_limit_mib, instance.cpu_limit) == (512, 1.5)


def test_a_refused_deployment_keeps_the_wizard_and_says_why(operator_client, app, device, settings):
    _, graph, _ = app
    walk_to(operator_client, "review", graph, device, configure={"route0": "8081"})
    settings.DEPLOYMENTS_PER_DEVICE_PER_DAY = 1
    ApplicationInstance.objects.create(name="today", device=device, status="REMOVAL_SUCCEEDED")
    response = post(operator_client, "review")
    assert current_step(response) == "review"
    html = response.content.decode()
    assert "had 1 deployments in the last 24 hours" in html
    assert "DEPLOYMENTS_PER_DEVICE_PER_DAY" in html
    # The package is deregistered meanwhile: the workflow's errors are listed.
    settings.DEPLOYMENTS_PER_DEVICE_PER_DAY = 100
    from applications.models import PatchVersion

    PatchVersion.objects.filter(package_version__package__name=PACKAGE).update(status="FAILED")
    response = post(operator_client, "review")
    assert current_step(response) in ("manifest", "review")
    assert "is not registered on this console" in response.content.decode()
    assert ApplicationInstance.objects.filter(name="inbound").count() == 0


def test_viewers_cannot_open_the_wizard(viewer_client):
    assert viewer_client.get(URL).status_code == 403
    assert viewer_client.post(URL, {}).status_code == 403
