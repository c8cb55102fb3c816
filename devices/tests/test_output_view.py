"""'View output' end to end: the live console, the agent's real link code with its Hdmi, and a
display ring written by the test; an HTTP client reads the MJPEG stream like the page's <img>."""

from __future__ import annotations

import asyncio
import http.client
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np
import pytest
from django.test import Client

from core.roles import Role
from devicelink.messages import Health
from devices.output import owner_changed, placeholder
from devices.views.output import NO_APPLICATION
from edge_agent.apps.hdmi import Hdmi
from edge_agent.link import LinkClient, LinkConfig, LinkHooks
from edge_agent.outbox import Outbox
from edge_agent.runtime.ring import FrameRing
from tests.support.devices import provisioned_device
from tests.support.waiting import wait_for

IID = "applicationInstance-outputtest0000000000000"
BLUE, RED = (255, 0, 0), (0, 0, 255)


class Agent:
    """The agent's link client and HDMI output, in an event loop of their own thread."""

    def __init__(self, console_url: str, device, key, outbox: Outbox) -> None:
        self.hdmi: Hdmi | None = None
        self.client: LinkClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        ready = threading.Event()

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.hdmi = Hdmi(lambda message: self.client.send_live(message), max_fps=10)
            config = LinkConfig(
                console_url=console_url, device_id=device.device_id, private_key=key,
                software_version="1.2.3", heartbeat_s=0.5, backoff_base_s=0.05,
                backoff_cap_s=0.2,
            )  # fmt: skip
            hooks = LinkHooks(health=lambda: Health(), on_output_watch=self.hdmi.watch)
            self.client = LinkClient(config, outbox, hooks)
            ready.set()
            await self.client.run()

        self.thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.client.stop)
        self.thread.join(15)
        self.hdmi.close()


class Display:
    """A display process stand-in: left half blue, right half red, 30 frames a second."""

    def __init__(self, path: Path) -> None:
        self.ring = FrameRing.create(path, slots=4, readers=1, capacity=160 * 90 * 3)
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        image = np.zeros((90, 160, 3), np.uint8)
        image[:, :80], image[:, 80:] = BLUE, RED
        while not self._stop.wait(1 / 30):
            self.ring.write(image, ts_sec=0, ts_usec=0)
            self.written += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class MjpegReader:
    """Reads multipart/x-mixed-replace parts off a streaming response, as a browser does."""

    def __init__(self, url: str, cookie: str) -> None:
        parts = urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        self.connection.request("GET", parts.path, headers={"Cookie": cookie})
        self.response = self.connection.getresponse()

    def next_part(self) -> bytes:
        stream = self.response
        line = stream.readline()
        while line.strip() == b"":
            line = stream.readline()
        assert line.strip() == b"--frame", line
        headers = {}
        while (line := stream.readline().strip()) != b"":
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        return stream.read(int(headers["content-length"]))

    def wait_for_part(self, condition, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jpeg = self.next_part()
            if condition(jpeg):
                return jpeg
        raise AssertionError("no such part in the stream")

    def close(self) -> None:
        self.connection.sock.close()  # the client goes away mid-stream
        self.connection.close()


def shows_test_pixels(jpeg: bytes) -> bool:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[:2] != (90, 160):
        return False
    left, right = image[45, 20].astype(int), image[45, 140].astype(int)
    return bool(np.abs(left - BLUE).max() < 40 and np.abs(right - RED).max() < 40)


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="vout-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def fetch(url: str, cookie: str) -> str:
    """A page as the live console renders it (it knows the owner: the link runs there)."""
    request = urllib.request.Request(url, headers={"Cookie": cookie})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.read().decode()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_view_output_streams_the_owners_display_while_watched(live_stack, make_user, folder):
    device, key = provisioned_device("lobby-out")
    cookie = session_cookie(make_user(Role.VIEWER, "watcher"))
    display = Display(folder / "display-output_node.ring")
    with Outbox(folder / "outbox.sqlite3", device.device_id) as outbox:
        agent = Agent(live_stack.url, device, key, outbox)
        try:
            wait_for(lambda: agent.client.connected, 15, "the link to connect")
            agent.hdmi.claim(IID, display.ring.path)
            assert agent.hdmi.encoded == 0  # nobody watches yet

            reader = MjpegReader(
                f"{live_stack.url}/devices/{device.device_id}/output.mjpeg", cookie
            )
            assert reader.response.status == 200
            assert reader.response.getheader("Content-Type") == (
                "multipart/x-mixed-replace; boundary=frame"
            )
            reader.wait_for_part(shows_test_pixels, 20)
            assert agent.hdmi.watched
            # The console learnt who owns the display, and says so on the device page.
            device_page = f"{live_stack.url}/devices/{device.device_id}/"
            wait_for(lambda: f'data-owner="{IID}"' in fetch(device_page, cookie), 10,
                     "the owner on the device page")  # fmt: skip

            # The application stops: nothing owns the display, and the stream says so.
            agent.hdmi.release(IID)
            nobody = placeholder(NO_APPLICATION)
            reader.wait_for_part(lambda jpeg: jpeg == nobody, 20)
            wait_for(lambda: 'data-owner=""' in fetch(device_page, cookie), 10,
                     "no owner on the device page")  # fmt: skip

            # It starts again; then the client goes away: the renewals stop and, once the last
            # one runs out, the appliance encodes nothing more.
            agent.hdmi.claim(IID, display.ring.path)
            reader.wait_for_part(shows_test_pixels, 20)
            reader.close()
            wait_for(lambda: not agent.hdmi.watched, 30, "the watch to run out")
            encoded = agent.hdmi.encoded
            written = display.written
            wait_for(lambda: display.written >= written + 30, 10, "30 more frames")
            assert agent.hdmi.encoded - encoded <= 1
            assert not agent.hdmi.watched
        finally:
            agent.stop()
            display.stop()


@pytest.mark.django_db
def test_the_stream_needs_a_sign_in_and_a_known_device(client, viewer_client):
    device, _key = provisioned_device("lobby-2")
    response = client.get(f"/devices/{device.device_id}/output.mjpeg")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert viewer_client.get("/devices/device-nosuchdevice/output.mjpeg").status_code == 404
    assert viewer_client.post(f"/devices/{device.device_id}/output.mjpeg").status_code == 403


@pytest.mark.django_db
def test_the_panel_has_no_image_until_opened_and_names_the_owner(viewer_client):
    device, _key = provisioned_device("lobby-3")
    page = viewer_client.get(f"/devices/{device.device_id}/").content.decode()
    assert 'data-testid="output-toggle"' in page
    assert f'data-src="/devices/{device.device_id}/output.mjpeg"' in page
    assert "<img" not in page.split('data-testid="output-view"')[1].split("</div>")[0]
    assert "Open the output to see which application" in page
    owner_changed(device.pk, "")
    page = viewer_client.get(f"/devices/{device.device_id}/").content.decode()
    assert "No application shows output on lobby-3." in page
    owner_changed(device.pk, IID)
    page = viewer_client.get(f"/devices/{device.device_id}/").content.decode()
    assert f"<code>{IID}</code> owns the display." in page
