"""The deploy wizard and the instance page in a real browser, on the real stack.

The wizard deploys the inbound_network-shaped application to a device in the database; the
stack's worker validates it; then this test process plays the appliance with
``deployments.apply_report`` and the open instance page follows, without a reload (the live
updates reach the stack's server through its relay). Also takes the operator guide's screenshots
(docs/images/deploy-*.png).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from applications import deployments
from applications.models import ApplicationInstance
from core.roles import Role
from devicelink.apps import ApplicationReport
from devices.models import Device
from tests.support.browser import sign_in
from tests.support.deploy import (
    add_camera,
    camera_app_graph,
    inbound_network_app,
    register_inbound_network_package,
)
from tests.support.devices import connected_device
from tests.support.paths import BASE_DIR
from tests.support.users import PASSWORD
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IMAGES = BASE_DIR / "docs" / "images"


def online_device(name: str = "lobby-1") -> Device:
    """Connected, with the times the screenshots show (and no serial or software)."""
    now = timezone.now()
    return connected_device(
        name,
        last_heartbeat_at=now,
        # Far enough out that the stack's lease sweep leaves the device online during the test.
        lease_expires_at=now + timedelta(hours=1),
        provisioned_at=now - timedelta(days=1),
    )


def shot(page, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / name), full_page=True)


def device_reports(device: Device, instance: ApplicationInstance, status: str, nodes=()) -> None:
    """What the link does with an appliance's report."""
    instance.refresh_from_db()
    with transaction.atomic():
        deployments.apply_report(
            Device.objects.get(pk=device.pk),
            ApplicationReport(
                application_instance_id=instance.application_instance_id,
                generation=instance.generation,
                status=status,
                nodes=[{"name": n, "status": s, "message": ""} for n, s in nodes],
            ),
        )


def test_deploy_with_the_wizard_and_follow_the_instance_live(live_stack, page, make_user):
    register_inbound_network_package()
    device = online_device()
    graph, _ = inbound_network_app()
    operator = make_user(Role.OPERATOR)
    sign_in(page, live_stack.url, operator.username, PASSWORD)
    page.get_by_role("link", name="Applications").click()
    page.get_by_role("link", name="Deploy application").click()

    # Manifest: a mistake is shown at its place; then the right one.
    expect(page.get_by_role("heading", name="Deploy application: Manifest")).to_be_visible()
    broken = json.loads(graph)
    broken["nodeGraph"]["nodes"][0]["interface"] += "_v2"
    page.get_by_label("Application manifest (graph.json)").fill(json.dumps(broken, indent=2))
    page.get_by_role("button", name="Next").click()
    error = page.get_by_test_id("manifest-error")
    expect(error).to_contain_text("/nodeGraph/nodes/0/interface")
    expect(error).to_contain_text('has no interface "code_interface_v2"')
    expect(page.get_by_test_id("manifest-inline-error")).to_be_visible()
    shot(page, "deploy-manifest.png")
    page.get_by_label("Application manifest (graph.json)").fill(graph)
    page.get_by_role("button", name="Next").click()

    # Details, Runtime role.
    expect(page.get_by_role("heading", name="Deploy application: Details")).to_be_visible()
    page.get_by_label("Application name").fill("inbound")
    page.get_by_label("Description (optional)").fill("Answers HTTP on port 8081")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Deploy application: Runtime role")).to_be_visible()
    page.get_by_role("button", name="Next").click()

    # Device.
    expect(page.get_by_role("heading", name="Deploy application: Device")).to_be_visible()
    expect(page.get_by_test_id("device-lobby-1")).to_contain_text("0 / 10 applications")
    page.get_by_test_id("device-lobby-1").click()
    shot(page, "deploy-device.png")
    page.get_by_role("button", name="Next").click()

    # Configure: no settings; the code node's inbound port, routed to host port 8081.
    expect(page.get_by_role("heading", name="Deploy application: Configure")).to_be_visible()
    expect(page.get_by_test_id("no-parameters")).to_be_visible()
    page.get_by_label("Host port for code_node port 8080").fill("8081")
    page.get_by_role("button", name="Next").click()

    # Review: the generated override, then Deploy.
    expect(page.get_by_role("heading", name="Deploy application: Review")).to_be_visible()
    expect(page.get_by_test_id("override-preview")).to_contain_text('"hostPort": 8081')
    shot(page, "deploy-review.png")
    page.get_by_test_id("deploy-button").click()

    instance = wait_for(
        lambda: ApplicationInstance.objects.filter(name="inbound").first(), 10, "the instance"
    )
    page.wait_for_url(f"{live_stack.url}/applications/{instance.application_instance_id}/")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.wait_for_load_state("networkidle")
    status = page.get_by_test_id("instance-status")
    # The stack's worker validates it and publishes it to the device.
    expect(status).to_have_attribute("data-status", "DEPLOYMENT_REQUESTED", timeout=30_000)
    expect(page.get_by_test_id("node-status-code_node")).to_have_attribute(
        "data-status", "NOT_AVAILABLE"
    )
    page.wait_for_load_state("networkidle")

    # The appliance installs it, then runs it: the page follows without a reload.
    device_reports(device, instance, "INSTALL_IN_PROGRESS")
    expect(status).to_have_attribute("data-status", "DEPLOYMENT_IN_PROGRESS")
    expect(page.get_by_test_id("instance-description")).to_have_text(
        "The device is installing the application."
    )
    device_reports(device, instance, "RUNNING", [("code_node", "RUNNING")])
    expect(status).to_have_attribute("data-status", "DEPLOYMENT_SUCCEEDED")
    expect(status).to_have_attribute("data-health", "RUNNING")
    expect(page.get_by_test_id("instance-description")).to_have_text(
        "Application deployed successfully."
    )
    expect(page.get_by_test_id("node-status-code_node")).to_have_attribute("data-status", "RUNNING")
    timeline = page.get_by_test_id("instance-timeline").get_by_test_id("timeline-event")
    expect(timeline).to_have_count(4)
    shot(page, "deploy-instance.png")

    # The list shows it, with its live cells.
    page.goto(f"{live_stack.url}/applications/")
    row = page.get_by_test_id("app-row-inbound")
    status_cell = row.get_by_test_id("app-status")
    expect(status_cell).to_have_attribute("data-status", "DEPLOYMENT_SUCCEEDED")
    shot(page, "deploy-list.png")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.wait_for_load_state("networkidle")
    # The node fails: the row's health and description follow.
    device_reports(device, instance, "RUNNING", [("code_node", "ERROR")])
    expect(row.get_by_test_id("app-health")).to_have_attribute("data-health", "ERROR")
    expect(row.get_by_test_id("app-description")).to_contain_text("code_node")


def test_data_sources_and_settings_steps(live_stack, page, make_user):
    register_inbound_network_package()
    online_device()
    for name in ("door-east", "door-west"):
        add_camera(name, check="SUCCEEDED" if name == "door-east" else "FAILED")
    operator = make_user(Role.OPERATOR)
    sign_in(page, live_stack.url, operator.username, PASSWORD)
    page.goto(f"{live_stack.url}/applications/deploy/")
    page.get_by_label("Application manifest (graph.json)").fill(camera_app_graph())
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Application name").fill("entrance")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    page.get_by_test_id("device-lobby-1").click()
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Deploy application: Data sources")).to_be_visible()
    section = page.get_by_test_id("camera-camera_node")
    expect(section).to_contain_text("Entrance cameras")
    section.get_by_role("checkbox", name="door-east").check()
    section.get_by_role("checkbox", name="door-west").check()
    section.get_by_label("When door-west starts").select_option("onSignal")
    shot(page, "deploy-datasources.png")
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Deploy application: Configure")).to_be_visible()
    page.get_by_label("Detection threshold").fill("1.5")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_test_id("error-threshold")).to_have_text(
        "A number from 0 to 1, with up to two decimals."
    )
    shot(page, "deploy-configure.png")
    page.get_by_label("Detection threshold").fill("0.8")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_test_id("override-preview")).to_contain_text('"replace": "camera_node"')
    expect(page.get_by_test_id("review-summary")).to_contain_text("door-west (starts paused)")
