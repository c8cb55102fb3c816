"""The setup wizard and the device page in a real browser, on the real stack.

Also takes the operator guide's screenshots (docs/images/device-setup-*.png, device-page.png).
The end-to-end test with a real agent (archive → USB folder → connected) is in tests/e2e/.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from core.status import DeviceConnectionStatus, DeviceStatus, UpdateProgress
from devicelink.archive import read_archive
from devices import live
from devices.models import Device, DeviceJob, DeviceJobEvent, DeviceLog, SoftwareImage
from tests.support.browser import sign_in
from tests.support.devices import NETWORK_STATUS, make_device
from tests.support.paths import BASE_DIR
from tests.support.users import PASSWORD

pytestmark = [pytest.mark.stack, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IMAGES = BASE_DIR / "docs" / "images"


def test_wizard_creates_the_device_and_the_setup_page_turns_connected(
    live_stack, page, make_user, tmp_path
):
    from core.roles import Role

    admin = make_user(Role.ADMINISTRATOR)
    sign_in(page, live_stack.url, admin.username, PASSWORD)
    page.get_by_role("link", name="Devices").click()
    page.get_by_role("link", name="Set up device").click()

    # Step 1: Name.
    expect(page.get_by_role("heading", name="Set up device: Name")).to_be_visible()
    page.get_by_role("textbox", name="Name", exact=True).fill("lobby 1")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Use only letters a-z A-Z, digits 0-9")).to_be_visible()
    page.get_by_role("textbox", name="Name", exact=True).fill("lobby-1")
    page.get_by_label("Description (optional)").fill("Main entrance, ceiling")
    page.get_by_label("Tag key 1").fill("site")
    page.get_by_label("Tag value 1").fill("lobby")
    page.get_by_role("button", name="Add tag").click()
    page.get_by_label("Tag key 2").fill("floor")
    page.get_by_label("Tag value 2").fill("0")
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "device-setup-name.png"), full_page=True)
    page.get_by_role("button", name="Next").click()

    # Step 2: Configure, with a static address whose gateway is outside its subnet.
    expect(page.get_by_role("heading", name="Set up device: Configure")).to_be_visible()
    page.locator("summary", has_text="Advanced network settings").click()
    page.get_by_label("Static IP address").first.check()
    page.get_by_label("Ethernet0 IP address").fill("192.168.0.20")
    page.get_by_label("Ethernet0 Subnet mask").fill("24")
    page.get_by_label("Ethernet0 Default gateway").fill("10.0.0.1")
    page.get_by_label("Ethernet0 DNS servers").fill("192.168.0.2")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_test_id("error-eth0_gateway")).to_have_text(
        "The default gateway 10.0.0.1 is outside the subnet 192.168.0.0/24."
    )
    page.get_by_label("Ethernet0 Default gateway").fill("192.168.0.1")
    page.screenshot(path=str(IMAGES / "device-setup-configure.png"), full_page=True)
    page.get_by_role("button", name="Next").click()

    # The device exists; the setup page carries on with Download file.
    device = Device.objects.get(name="lobby-1")
    assert device.tags == {"site": "lobby", "floor": "0"}
    assert device.network_config["Ethernet0"]["StaticIpConnectionInfo"]["Mask"] == "255.255.255.0"
    page.wait_for_url(f"{live_stack.url}/devices/{device.device_id}/setup/")
    expect(page.locator("#live-status")).to_have_text("Live")
    status = page.get_by_test_id("setup-status")
    expect(status).to_have_attribute("data-state", "download")
    with page.expect_download() as download_info:
        page.get_by_test_id("download-archive").click()
    download = download_info.value
    assert download.suggested_filename == "certificates-omni_lobby-1.zip"
    download.save_as(tmp_path / "archive.zip")
    config, _ca = read_archive((tmp_path / "archive.zip").read_bytes())
    assert config.device_id == device.device_id
    # The steps reload by themselves: downloaded, power on, the credential's countdown.
    expect(status).to_have_attribute("data-state", "waiting")
    # The countdown runs: 5:00 when rendered, then 4:59, 4:58, …
    expect(page.get_by_test_id("archive-countdown")).to_have_text(re.compile(r"^4:[0-5][0-9]$"))
    expect(page.get_by_test_id("new-archive")).to_be_visible()
    page.screenshot(path=str(IMAGES / "device-setup-power-on.png"), full_page=True)

    # The appliance checks in (as the link records it): the page turns connected, no reload.
    Device.objects.filter(pk=device.pk).update(
        provisioning_status=DeviceStatus.SUCCEEDED,
        connection_status=DeviceConnectionStatus.ONLINE,
        serial_number="123456789012",
    )
    live.device_updated(Device.objects.get(pk=device.pk), ["status"])
    expect(status).to_have_attribute("data-state", "connected")
    expect(status).to_contain_text("Your appliance is now connected and online.")
    page.get_by_test_id("setup-done").click()
    page.wait_for_url(f"{live_stack.url}/devices/{device.device_id}/")


def test_device_page_shows_everything_and_updates_live(live_stack, page, make_user):
    from core.roles import Role

    now = timezone.now()
    device = make_device(
        name="lobby-1",
        description="Main entrance, ceiling",
        tags={"site": "lobby", "floor": "0"},
        provisioning_status=DeviceStatus.SUCCEEDED,
        connection_status=DeviceConnectionStatus.ONLINE,
        serial_number="123456789012",
        current_software="1.0.0",
        update_needed=True,
        network_status=NETWORK_STATUS,
        network_updated=now,
        network_config={"Ethernet0": {"ConnectionType": "DHCP"},
                        "Ethernet1": {"ConnectionType": "DHCP"},
                        "Ntp": {"NtpServers": ["pool.ntp.org"]}},
        health={"cpu_percent": 23.0, "memory_percent": 41.0, "disk_percent": 18.0,
                "temperature_c": 52.5, "uptime_s": 98000, "load_1m": 0.61},
        last_heartbeat_at=now,
        # Far enough out that the stack's lease sweep leaves the device online during the test.
        lease_expires_at=now + timedelta(hours=1),
        provisioned_at=now - timedelta(days=1),
        job_counter=1,
    )  # fmt: skip
    SoftwareImage.objects.create(
        version="1.1.0", major=1, minor=1, patch=0, required=True, sha256="0" * 64, size=1,
        signature="x",
    )  # fmt: skip
    job = DeviceJob.objects.create(
        job_id=f"{device.device_id}-1", device=device, job_type="REBOOT",
        status=UpdateProgress.COMPLETED,
    )  # fmt: skip
    for status in ("PENDING", "IN_PROGRESS", "REBOOTING", "COMPLETED"):
        DeviceJobEvent.objects.create(job=job, status=status)
    for second, (level, message) in enumerate(
        [("INFO", "agent 1.0.0 started"), ("INFO", "link connected"),
         ("WARNING", "NTP offset 0.8 s"), ("INFO", "heartbeat every 10 s")]
    ):  # fmt: skip
        DeviceLog.objects.create(
            device=device, time=now - timedelta(minutes=5) + timedelta(seconds=second),
            stream="occ_log", level=level, message=message,
        )  # fmt: skip

    operator = make_user(Role.OPERATOR)
    sign_in(page, live_stack.url, operator.username, PASSWORD)
    page.goto(f"{live_stack.url}/devices/{device.device_id}/")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_test_id("status-light-label")).to_have_text("Status light: Solid green")
    expect(page.get_by_test_id("update-banner")).to_contain_text("version 1.1.0")
    expect(page.get_by_test_id("network-Ethernet0")).to_contain_text("192.168.0.10/24")
    expect(page.get_by_test_id("health-cpu_percent")).to_have_text("23 %")
    page.screenshot(path=str(IMAGES / "device-page.png"), full_page=True)
    page.goto(f"{live_stack.url}/devices/?tag=site:lobby")
    expect(page.locator(f"#device-status-{device.device_id}")).to_contain_text("Update needed")
    page.screenshot(path=str(IMAGES / "devices.png"), full_page=True)
    page.goto(f"{live_stack.url}/devices/{device.device_id}/")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.wait_for_load_state("networkidle")

    # A new log line arrives and is appended; the level filter hides it when below the minimum.
    line = DeviceLog.objects.create(
        device=device, time=timezone.now(), stream="ota_log", level="ERROR",
        message="download failed: connection reset",
    )  # fmt: skip
    live.logs_added(device, [line])
    expect(page.get_by_test_id("log-lines")).to_contain_text("download failed: connection reset")
    # A live update may make the page resync its regions; let that settle before filtering.
    page.wait_for_load_state("networkidle")
    page.get_by_label("Minimum level").select_option("WARNING")
    expect(page).to_have_url(re.compile(rf"/devices/{device.device_id}/\?level=WARNING"))
    expect(page.get_by_test_id("log-lines")).not_to_contain_text("link connected")
    expect(page.get_by_test_id("log-lines")).to_contain_text("NTP offset 0.8 s")

    # Reboot from the page: confirm, then the job list shows it; its progress arrives live.
    page.get_by_role("button", name="Reboot").click()
    expect(page.get_by_test_id("affected-devices")).to_contain_text("lobby-1")
    page.get_by_test_id("bulk-confirm").click()
    page.wait_for_url(f"{live_stack.url}/devices/{device.device_id}/")
    # Let the page's first resync settle: a resync answer rendered before the change below
    # could otherwise land after its live update (see the report on static/js/vantage.js).
    page.wait_for_load_state("networkidle")
    created = DeviceJob.objects.exclude(pk=job.pk).get()
    assert created.job_id == f"{device.device_id}-2"
    expect(page.get_by_test_id(f"job-{created.job_id}")).to_have_attribute("data-status", "PENDING")
    DeviceJob.objects.filter(pk=created.pk).update(status=UpdateProgress.REBOOTING)
    DeviceJobEvent.objects.create(job=created, status="REBOOTING")
    Device.objects.filter(pk=device.pk).update(activity="REBOOTING")
    live.job_updated(DeviceJob.objects.get(pk=created.pk))
    expect(page.get_by_test_id(f"job-{created.job_id}")).to_have_attribute(
        "data-status", "REBOOTING"
    )
    expect(page.get_by_test_id("status-light-label")).to_have_text(
        "Status light: Fast blinking green"
    )
