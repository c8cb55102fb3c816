"""The people counter sample, deployed from the wizard to a real appliance with a real camera.

The sample is loaded as ``./vantage up`` loads it (``manage.py load_sample``); a camera on the
real RTSP server (with credentials) is a data source. An operator deploys the sample's graph
with the wizard to a provisioned edge agent. Then, on the instance page: every node instance
RUNNING, *View output* shows the annotated frames (the people's red boxes, drawn by the display
sink from the application's ``add_rect``), and the log shows the application's counts. Also takes
the operator guide's picture of *View output* (docs/images/view-output.png).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.roles import Role
from tests.support.appliances import provisioned_agent
from tests.support.browser import sign_in
from tests.support.paths import BASE_DIR
from tests.support.users import PASSWORD
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

IMAGES = BASE_DIR / "docs" / "images"
AGENT_MS = 120_000  # download, install, start the model server, the camera and the code
NAME = "lobby-people"
CAMERA = "lobby_camera"

# The share of strongly red pixels in the output image shown on the page: the boxes.
RED_PIXELS = """
img => {
  if (!img.naturalWidth) return -1;
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let red = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] > 180 && data[i + 1] < 70 && data[i + 2] < 70) red++;
  }
  return red;
}
"""


@pytest.fixture
def lobby_camera(live_stack, rtsp_server):
    from applications.camera_packages import register_camera_package
    from datasources.models import DataSource

    source = DataSource(name=CAMERA, url=rtsp_server.url("auth"), description="The lobby")
    source.set_credentials(rtsp_server.user, rtsp_server.password)
    source.save()
    register_camera_package(source)
    return source


def test_the_people_counter_deploys_and_shows_people(
    live_stack, make_agent, page, make_user, lobby_camera
):
    from applications.models import ApplicationInstance
    from applications.samples import load

    outcome = load("people_counter")
    assert outcome.graph is not None
    device, _agent = provisioned_agent(make_agent, "edge-counter", live_stack.url)
    operator = make_user(Role.OPERATOR)
    sign_in(page, live_stack.url, operator.username, PASSWORD)

    page.goto(f"{live_stack.url}/applications/")
    page.get_by_role("link", name="Deploy application").click()
    page.get_by_label("Application manifest (graph.json)").fill(outcome.graph.read_text())
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Deploy application: Details")).to_be_visible()
    page.get_by_label("Application name").fill(NAME)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Deploy application: Runtime role")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    page.get_by_test_id("device-edge-counter").click()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Deploy application: Data sources")).to_be_visible()
    page.get_by_test_id("camera-camera_node").get_by_role("checkbox", name=CAMERA).check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Deploy application: Configure")).to_be_visible()
    expect(page.get_by_label("Confidence threshold")).to_have_value("0.5")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Deploy application: Review")).to_be_visible()
    page.get_by_test_id("deploy-button").click()

    instance = wait_for(
        lambda: ApplicationInstance.objects.filter(name=NAME).first(), 10, "the instance"
    )
    page.wait_for_url(f"{live_stack.url}/applications/{instance.application_instance_id}/")
    assert instance.device_id == device.pk
    status = page.get_by_test_id("instance-status")
    expect(status).to_have_attribute("data-status", "DEPLOYMENT_SUCCEEDED", timeout=AGENT_MS)
    expect(status).to_have_attribute("data-health", "RUNNING")
    for node in (CAMERA, "code_node", "model_node", "output_node"):
        expect(page.get_by_test_id(f"node-status-{node}")).to_have_attribute(
            "data-status", "RUNNING", timeout=AGENT_MS
        )

    # View output: the display's frames, with the boxes the application asked for.
    page.get_by_test_id("output-toggle").click()
    image = page.get_by_test_id("output-view").locator("img")
    expect(image).to_be_visible()

    def boxes_shown() -> bool:
        return image.evaluate(RED_PIXELS) > 200

    wait_for(boxes_shown, 60, "red boxes around people in the output")
    # The operator guide's picture of it.
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.get_by_test_id("output-view").scroll_into_view_if_needed()
    page.get_by_test_id("output-view").screenshot(path=str(IMAGES / "view-output.png"))
    expect(page.get_by_test_id("output-owner")).to_have_attribute(
        "data-owner", instance.application_instance_id, timeout=30_000
    )

    # The count, as the application printed it, in the instance's log.
    lines = page.get_by_test_id("app-log-lines")
    expect(lines).to_contain_text(re.compile(rf"{CAMERA}: [1-9]\d* people"), timeout=60_000)
