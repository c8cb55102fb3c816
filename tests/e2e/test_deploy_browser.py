"""The whole deploy wizard in a real browser, against a real appliance and a real camera.

A real edge agent is provisioned and online; a camera stream on the real RTSP server is a data
source. An operator pastes a manifest (first one with mistakes: every error is shown at its
JSON pointer), walks the wizard (details, no role, the device, the camera for the graph's
abstract camera node, a setting, the host port) and deploys. The instance page then follows
the real workflow and the real agent, DEPLOYMENT_PENDING → DEPLOYMENT_REQUESTED → …
→ DEPLOYMENT_SUCCEEDED / RUNNING, without a reload; so does the application list. The
application answers on its host port; its camera node is paused and resumed from the page.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from core.roles import Role
from tests.support.appliances import provisioned_agent
from tests.support.browser import sign_in
from tests.support.devices import make_device
from tests.support.ports import free_host_port
from tests.support.users import PASSWORD
from tests.support.waiting import http_get, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

AGENT_MS = 120_000  # what a real agent does: download, install, start, connect to the camera
NAME = "lobby-counter"
CAMERA = "front_door"

# Every value the live regions take, in order, on whichever page is open: proves a change was
# seen live (a page that loads a state shows it once; a swap adds a new entry).
RECORD_LIVE_VALUES = """
window.__seen = {status: [], list: [], camera: []};
const note = (key, value) => {
  const seen = window.__seen[key];
  if (value && seen[seen.length - 1] !== value) seen.push(value);
};
new MutationObserver(() => {
  const status = document.querySelector('[data-testid="instance-status"]');
  if (status) note("status", `${status.dataset.status}/${status.dataset.health}`);
  const camera = document.querySelector('[data-testid="node-status-front_door"]');
  if (camera) note("camera", camera.dataset.status);
  const row = document.querySelector('[data-testid="app-row-lobby-counter"]');
  if (row) {
    const cell = (id, key) => row.querySelector(`[data-testid="${id}"]`)?.dataset[key];
    note("list", `${cell("app-status", "status")}/${cell("app-health", "health")}`);
  }
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


def manifest() -> dict:
    """The inbound_network code node behind an abstract camera node, with one setting."""
    from tests.support.deploy import inbound_network_app

    graph = json.loads(inbound_network_app()[0])
    body = graph["nodeGraph"]
    body["packages"].append({"name": "panorama::abstract_rtsp_media_source", "version": "1.0"})
    body["nodes"] += [
        {
            "name": "camera_node",
            "interface": "panorama::abstract_rtsp_media_source.rtsp_v1_interface",
            "overridable": True,
            "overrideMandatory": True,
            "launch": "onAppStart",
            "decorator": {"title": "Lobby camera", "description": "The camera over the door."},
        },
        {
            "name": "greeting",
            "interface": "string",
            "value": "hello",
            "overridable": True,
            "decorator": {"title": "Greeting", "description": "What the app says."},
        },
    ]
    body["edges"] = [{"producer": "camera_node.video_out", "consumer": "code_node.video_in"}]
    return graph


def broken_manifest() -> tuple[str, set[str]]:
    """Three mistakes at once, and where each is."""
    from tests.support.deploy import ACCOUNT

    graph = manifest()
    body = graph["nodeGraph"]
    del body["envelopeVersion"]
    body["packages"].append({"name": f"{ACCOUNT}::missing_pkg", "version": "1.0"})
    body["edges"][0]["producer"] = "nowhere.video_out"
    paths = {"/nodeGraph/envelopeVersion", "/nodeGraph/packages/2", "/nodeGraph/edges/0/producer"}
    return json.dumps(graph, indent=2), paths


def seen(page, key: str) -> list[str]:
    return page.evaluate(f"window.__seen.{key}")


@pytest.fixture
def camera_source(live_stack, rtsp_server):
    """A camera stream on the real RTSP server (with credentials), and its camera package."""
    from applications.camera_packages import register_camera_package
    from datasources.models import DataSource

    source = DataSource(name=CAMERA, url=rtsp_server.url("auth"), description="Over the door")
    source.set_credentials(rtsp_server.user, rtsp_server.password)
    source.save()
    register_camera_package(source)
    return source


def test_the_wizard_deploys_to_a_real_appliance_and_the_pages_follow_live(
    live_stack, make_agent, page, make_user, camera_source
):
    from applications.models import ApplicationInstance
    from tests.support.deploy import register_inbound_network_package

    register_inbound_network_package()
    device, _agent = provisioned_agent(make_agent, "edge-wizard", live_stack.url)
    host_port = free_host_port()
    operator = make_user(Role.OPERATOR)
    page.context.add_init_script(RECORD_LIVE_VALUES)
    sign_in(page, live_stack.url, operator.username, PASSWORD)

    page.get_by_role("link", name="Applications").click()
    page.get_by_role("link", name="Deploy application").click()

    # Manifest: every mistake at its place; then the right one.
    expect(page.get_by_role("heading", name="Deploy application: Manifest")).to_be_visible()
    broken, paths = broken_manifest()
    page.get_by_label("Application manifest (graph.json)").fill(broken)
    page.get_by_role("button", name="Next").click()
    errors = page.get_by_test_id("manifest-error")
    expect(errors).to_have_count(len(paths))
    assert set(errors.evaluate_all("items => items.map(i => i.dataset.path)")) == paths
    expect(page.get_by_test_id("manifest-errors")).to_contain_text(
        "missing_pkg is not registered on this console"
    )
    expect(page.get_by_test_id("manifest-inline-error")).to_have_count(len(paths))
    page.get_by_label("Application manifest (graph.json)").fill(json.dumps(manifest(), indent=2))
    page.get_by_role("button", name="Next").click()

    # Details; no runtime role; the device, online, running nothing yet.
    expect(page.get_by_role("heading", name="Deploy application: Details")).to_be_visible()
    page.get_by_label("Application name").fill(NAME)
    page.get_by_label("Description (optional)").fill("Counts people in the lobby")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Deploy application: Runtime role")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Deploy application: Device")).to_be_visible()
    choice = page.get_by_test_id("device-edge-wizard")
    expect(choice).to_contain_text("0 / 10 applications")
    expect(choice.locator('[data-status="ONLINE"]')).to_be_visible()
    choice.click()
    page.get_by_role("button", name="Next").click()

    # Data sources: the real camera for the abstract camera node.
    expect(page.get_by_role("heading", name="Deploy application: Data sources")).to_be_visible()
    section = page.get_by_test_id("camera-camera_node")
    expect(section).to_contain_text("Lobby camera")
    section.get_by_role("checkbox", name=CAMERA).check()
    page.get_by_role("button", name="Next").click()

    # Configure: the setting, and the code node's inbound port on a free host port.
    expect(page.get_by_role("heading", name="Deploy application: Configure")).to_be_visible()
    expect(page.get_by_label("Greeting")).to_have_value("hello")
    page.get_by_label("Greeting").fill("welcome")
    page.get_by_label("Host port for code_node port 8080").fill(str(host_port))
    page.get_by_role("button", name="Next").click()

    # Review, then Deploy.
    expect(page.get_by_role("heading", name="Deploy application: Review")).to_be_visible()
    summary = page.get_by_test_id("review-summary")
    expect(summary).to_contain_text(f"camera_node: {CAMERA}")
    expect(summary).to_contain_text(f"host port {host_port} → code_node port 8080")
    preview = page.get_by_test_id("override-preview")
    expect(preview).to_contain_text(f'"hostPort": {host_port}')
    expect(preview).to_contain_text('"replace": "camera_node"')
    expect(preview).to_contain_text('"value": "welcome"')
    page.get_by_test_id("deploy-button").click()

    # The instance page: it follows the workflow and the agent without a reload.
    instance = wait_for(
        lambda: ApplicationInstance.objects.filter(name=NAME).first(), 10, "the instance"
    )
    page.wait_for_url(f"{live_stack.url}/applications/{instance.application_instance_id}/")
    navigations: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
    )
    # The application list in a second tab, while the deployment is under way.
    list_page = page.context.new_page()
    list_page.goto(f"{live_stack.url}/applications/")
    list_navigations: list[str] = []
    list_page.on(
        "framenavigated",
        lambda frame: list_navigations.append(frame.url) if frame == list_page.main_frame else None,
    )
    expect(list_page.get_by_test_id(f"app-row-{NAME}")).to_be_visible()
    expect(list_page.locator("#live-status")).to_have_text("Live")
    expect(page.locator("#live-status")).to_have_text("Live")
    status = page.get_by_test_id("instance-status")
    expect(status).to_have_attribute("data-status", "DEPLOYMENT_SUCCEEDED", timeout=AGENT_MS)
    expect(status).to_have_attribute("data-health", "RUNNING")
    expect(page.get_by_test_id("instance-description")).to_have_text(
        "Application deployed successfully."
    )
    camera = page.get_by_test_id(f"node-status-{CAMERA}")
    expect(camera).to_have_attribute("data-status", "RUNNING", timeout=AGENT_MS)
    expect(page.get_by_test_id("node-status-code_node")).to_have_attribute(
        "data-status", "RUNNING", timeout=AGENT_MS
    )
    expect(page.get_by_test_id(f"node-{CAMERA}")).to_contain_text(f"camera stream {CAMERA}")
    events = page.get_by_test_id("instance-timeline").get_by_test_id("timeline-event")
    expect(events.last).to_have_attribute("data-status", "DEPLOYMENT_SUCCEEDED")
    shown = events.evaluate_all("rows => rows.map(r => r.dataset.status)")
    assert shown[:2] == ["DEPLOYMENT_PENDING", "DEPLOYMENT_REQUESTED"], shown
    assert shown[-1] == "DEPLOYMENT_SUCCEEDED", shown
    assert set(shown) <= {
        "DEPLOYMENT_PENDING",
        "DEPLOYMENT_REQUESTED",
        "DEPLOYMENT_IN_PROGRESS",
        "DEPLOYMENT_SUCCEEDED",
    }, shown
    # The page's timeline is the whole timeline: no event was lost on the way.
    assert shown == list(instance.events.order_by("time", "id").values_list("status", flat=True))
    # It was seen changing: the page loaded before the deployment was done.
    statuses = seen(page, "status")
    assert statuses[0] != "DEPLOYMENT_SUCCEEDED/RUNNING", statuses
    assert statuses[-1] == "DEPLOYMENT_SUCCEEDED/RUNNING", statuses
    assert navigations == [], navigations

    # The application itself answers on the host port the operator confirmed.
    text = wait_for(lambda: http_get(host_port), 30, "the app to answer on its host port")
    assert text.startswith("hello from inbound_network_code")
    instance.refresh_from_db()
    assert (instance.device_id, instance.created_by_id) == (device.pk, operator.pk)
    nodes = {node["name"]: node for node in instance.spec["nodes"]}
    assert nodes["greeting_override"]["value"] == "welcome"
    assert nodes[CAMERA]["kind"] == "camera"

    # The list tab followed too, without a reload.
    row = list_page.get_by_test_id(f"app-row-{NAME}")
    expect(row.get_by_test_id("app-status")).to_have_attribute(
        "data-status", "DEPLOYMENT_SUCCEEDED"
    )
    expect(row.get_by_test_id("app-health")).to_have_attribute("data-health", "RUNNING")
    expect(row.get_by_test_id("app-description")).to_have_text("Application deployed successfully.")
    rows = seen(list_page, "list")
    assert rows[0] != "DEPLOYMENT_SUCCEEDED/RUNNING", rows
    assert rows[-1] == "DEPLOYMENT_SUCCEEDED/RUNNING", rows
    assert list_navigations == [], list_navigations

    # Pause the camera from the instance page: the page posts the signal (one navigation: the
    # form's answer), then the node's status follows the agent live.
    with page.expect_navigation():
        page.get_by_role("button", name=f"Pause {CAMERA}").click()
    expect(page.get_by_test_id(f"node-signal-{CAMERA}")).to_have_text("Last signal: Pause")
    expect(page.locator("#live-status")).to_have_text("Live")
    after_pause = len(navigations)
    expect(camera).to_have_attribute("data-status", "PAUSED", timeout=60_000)
    assert len(navigations) == after_pause, navigations
    assert http_get(host_port), "the code node keeps serving while its camera is paused"

    with page.expect_navigation():
        page.get_by_role("button", name=f"Resume {CAMERA}").click()
    expect(page.get_by_test_id(f"node-signal-{CAMERA}")).to_have_text("Last signal: Resume")
    expect(page.locator("#live-status")).to_have_text("Live")
    after_resume = len(navigations)
    expect(camera).to_have_attribute("data-status", "RUNNING", timeout=60_000)
    assert len(navigations) == after_resume, navigations
    expect(status).to_have_attribute("data-status", "DEPLOYMENT_SUCCEEDED")
    expect(status).to_have_attribute("data-health", "RUNNING")


def test_a_list_open_before_the_deployment_shows_the_new_instance(live_stack, page, make_user):
    from datetime import timedelta

    from django.utils import timezone

    from applications import deployments
    from tests.support.deploy import (
        inbound_network_app,
        register_inbound_network_package,
    )

    register_inbound_network_package()
    now = timezone.now()
    device = make_device(
        name="lobby-2", provisioning_status="SUCCEEDED", connection_status="ONLINE",
        last_heartbeat_at=now, lease_expires_at=now + timedelta(hours=1),
    )  # fmt: skip
    sign_in(page, live_stack.url, make_user(Role.VIEWER).username, PASSWORD)
    page.goto(f"{live_stack.url}/applications/")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.wait_for_load_state("networkidle")
    graph, override = inbound_network_app(free_host_port())
    instance = deployments.request_deployment(
        name=NAME, device=device, manifest_text=graph, overrides_text=override
    )
    # Two live updates have gone out by then (DEPLOYMENT_PENDING, DEPLOYMENT_REQUESTED).
    wait_for(
        lambda: instance.refresh_from_db() or instance.status == "DEPLOYMENT_REQUESTED",
        30,
        "the stack's worker to take the deployment",
    )
    expect(page.get_by_test_id(f"app-row-{NAME}")).to_be_visible(timeout=3_000)
