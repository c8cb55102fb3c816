"""A real edge agent against the real console: provisioning, link, jobs, outages, deletion.

The agent runs as its own process (``python -m edge_agent run``) with a USB folder and a data
folder under the test's tmp_path; the console is the live stack. Where a test needs the network
between them to fail, the agent reaches the console through a TCP proxy the test can cut.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from devicelink.archive import archive_name
from tests.support.appliances import (
    provisioned_agent,
    refreshed,
    setup_device,
    wait_online,
)
from tests.support.paths import BASE_DIR
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_the_agent_provisions_from_the_usb_folder_and_reports(make_agent, live_stack):
    import edge_agent
    from devices.models import DeviceLog

    device, agent = provisioned_agent(make_agent, "lobby-1", live_stack.url)
    device = refreshed(device)
    assert device.provisioning_status == "SUCCEEDED"
    assert device.current_software == edge_agent.__version__
    assert device.serial_number.isdigit()
    key_file = next(agent.data_dir.rglob("device_key.pem"))
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert auth_public_key_matches(key_file, device.public_key)
    # The network it sees, as Panorama reports it.
    wait_for(lambda: refreshed(device).network_status.get("Ethernet0Status"), 30, "network")
    # Provisioning logs on the USB drive, and the agent's log lines on the console.
    assert (agent.usb_dir / "panorama" / "occ.log").exists()
    wait_for(
        lambda: (
            DeviceLog.objects.filter(device=device).exclude(source__startswith="panorama_").count()
            > 1
        ),
        30,
        "agent log lines on the console",
    )
    wait_for(lambda: refreshed(device).health.get("cpu_percent") is not None, 30, "health")


def auth_public_key_matches(key_file: Path, public_key: str) -> bool:
    from devicelink import auth

    return auth.public_key_b64(auth.load_private_key(key_file.read_bytes())) == public_key


def test_an_expired_and_a_reused_archive_are_refused_on_both_sides(make_agent, live_stack):
    from django.utils import timezone

    from devices.models import DeviceLog, ProvisioningCredential

    device, archive, credential = setup_device("expiring", live_stack.url)
    # The console's clock decides: move this credential's expiry into the past.
    ProvisioningCredential.objects.filter(pk=credential.pk).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    agent = make_agent("expiring")
    (agent.usb_dir / archive_name("expiring")).write_bytes(archive)
    agent.start()
    wait_for(lambda: "expired at" in agent.log(), 60, "the agent to log the expiry")
    assert refreshed(device).provisioning_status == "AWAITING_PROVISIONING"
    assert DeviceLog.objects.filter(device=device, level="WARNING", message__contains="expired at")

    # Used once by one appliance, the same archive is refused to another.
    used_device, used_agent = provisioned_agent(make_agent, "reused", live_stack.url)
    copy = make_agent("reused-copy")
    archive_file = next(used_agent.usb_dir.glob("certificates-omni_*.zip"))
    (copy.usb_dir / archive_file.name).write_bytes(archive_file.read_bytes())
    copy.start()
    wait_for(lambda: "already used" in copy.log(), 60, "the copy to log the refusal")
    assert DeviceLog.objects.filter(device=used_device, message__contains="already used")
    assert refreshed(used_device).aggregated == "ONLINE"  # the real one is unaffected


def test_kill_9_goes_offline_within_the_lease_and_queued_reports_arrive(
    make_agent, live_stack, console_proxy
):
    from django.utils import timezone

    from devices.models import Device, DeviceLog

    device, agent = provisioned_agent(make_agent, "outage", console_proxy.url)
    devices_before = Device.objects.count()
    # The network goes; the agent keeps working and queues what it reports (its log lines
    # about the lost link, at least) on disk.
    cut_at = timezone.now()
    console_proxy.cut()
    wait_for(lambda: refreshed(device).aggregated == "OFFLINE", 30, "OFFLINE after the lease")
    wait_for(lambda: agent.status().get("queued_reports", 0) > 0, 30, "reports queued on disk")
    agent.kill9()
    killed_at = timezone.now()
    console_proxy.restore()
    agent.start()
    wait_online(device)
    wait_for(lambda: agent.status().get("queued_reports") == 0, 30, "the outbox to drain")
    assert Device.objects.count() == devices_before  # the same device, not a new one
    # What the agent logged while it could not reach the console arrived afterwards.
    during_outage = DeviceLog.objects.filter(
        device=device, source="link", time__gte=cut_at, time__lte=killed_at
    )
    assert during_outage.filter(message__icontains="console").exists(), list(
        during_outage.values_list("message", flat=True)
    )


def test_reboot_and_ota_jobs_run_to_completion_and_a_tampered_bundle_is_refused(
    make_agent, live_stack, administrator
):
    import edge_agent
    from applications.assets import asset_storage
    from devicelink.releases import build_bundle
    from devices.jobs import create_jobs
    from devices.models import DeviceJob
    from devices.software import add_image, software_storage_name

    device, agent = provisioned_agent(make_agent, "jobs", live_stack.url)

    def finished(job_id: str) -> DeviceJob:
        return wait_for(
            lambda: (job := DeviceJob.objects.get(job_id=job_id)).is_terminal and job,
            120,
            f"job {job_id} to finish",
        )

    def history(job: DeviceJob) -> list[str]:
        return list(job.events.values_list("status", flat=True))

    [reboot] = create_jobs([refreshed(device)], "REBOOT", user=administrator)
    reboot = finished(reboot.job_id)
    assert reboot.status == "COMPLETED", reboot.reason
    assert history(reboot)[-3:] == ["IN_PROGRESS", "REBOOTING", "COMPLETED"]

    major, minor, patch = (int(part) for part in edge_agent.__version__.split("."))
    new_version = f"{major}.{minor}.{patch + 1}"
    bundle = build_bundle(BASE_DIR, new_version)
    add_image(bundle_file(bundle, new_version), new_version, "fixes", False, administrator)
    [ota] = create_jobs([refreshed(device)], "OTA", image_version=new_version, user=administrator)
    ota = finished(ota.job_id)
    assert ota.status == "COMPLETED", ota.reason
    assert history(ota) == [
        "PENDING", "DOWNLOADING", "VERIFYING", "IN_PROGRESS", "REBOOTING", "COMPLETED",
    ]  # fmt: skip
    wait_for(lambda: refreshed(device).current_software == new_version, 60, "the new version")

    # A bundle changed after the console signed it fails VERIFYING; the old version stays.
    bad_version = f"{major}.{minor}.{patch + 2}"
    add_image(
        bundle_file(build_bundle(BASE_DIR, bad_version), bad_version),
        bad_version,
        "",
        False,
        administrator,
    )
    storage = asset_storage()
    name = software_storage_name(bad_version)
    with storage.open(name, "rb") as handle:
        data = bytearray(handle.read())
    data[len(data) // 2] ^= 0xFF
    storage.delete(name)
    storage.save(name, _content(bytes(data)))
    [bad] = create_jobs([refreshed(device)], "OTA", image_version=bad_version, user=administrator)
    bad = finished(bad.job_id)
    assert bad.status == "FAILED"
    assert history(bad)[-2:] == ["VERIFYING", "FAILED"]
    assert "sha256" in bad.reason or "signature" in bad.reason, bad.reason
    assert refreshed(device).current_software == new_version
    assert agent.status()["software_version"] == new_version


def bundle_file(data: bytes, version: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(f"vantage-agent-{version}.tar.gz", data, "application/gzip")


def _content(data: bytes):
    from django.core.files.base import ContentFile

    return ContentFile(data)


def test_a_deleted_device_is_told_and_refused_from_then_on(make_agent, live_stack, administrator):
    from devices.deletion import delete_device

    device, agent = provisioned_agent(make_agent, "doomed", live_stack.url)
    delete_device(refreshed(device), administrator)
    wait_for(lambda: "deleted" in agent.log().lower(), 30, "the agent to hear it was deleted")
    agent.stop()
    agent.start()
    wait_for(
        lambda: agent.log().count("was deleted from the console") >= 2,
        60,
        "the restarted agent to be refused",
    )


@pytest.mark.browser
def test_the_wizard_archive_saved_to_usb_shows_connected_live(
    make_agent, live_stack, page, make_user
):
    """The acceptance path: wizard → download → save into the running agent's USB folder →
    the Power on step turns connected without a reload → the device page shows what the
    appliance reported."""
    import edge_agent
    from core.roles import Role
    from devices.models import Device
    from tests.support.browser import sign_in
    from tests.support.users import PASSWORD

    agent = make_agent("wizard").start()  # powered on, waiting for its USB drive
    admin = make_user(Role.ADMINISTRATOR)
    sign_in(page, live_stack.url, admin.username, PASSWORD)
    page.goto(f"{live_stack.url}/devices/add/")
    page.get_by_role("textbox", name="Name", exact=True).fill("front-door")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()  # Configure: DHCP, default NTP
    device = wait_for(lambda: Device.objects.filter(name="front-door").first(), 30, "device")
    page.wait_for_url(f"{live_stack.url}/devices/{device.device_id}/setup/")
    expect(page.locator("#live-status")).to_have_text("Live")
    with page.expect_download() as download_info:
        page.get_by_test_id("download-archive").click()
    download = download_info.value
    assert download.suggested_filename == "certificates-omni_front-door.zip"
    status = page.get_by_test_id("setup-status")
    expect(status).not_to_have_attribute("data-state", "download")
    reloads: list[str] = []
    page.on("framenavigated", lambda frame: reloads.append(frame.url))

    download.save_as(agent.usb_dir / download.suggested_filename)  # "plug in the USB drive"
    expect(status).to_have_attribute("data-state", "connected", timeout=60_000)
    assert reloads == [], f"the page reloaded: {reloads}"

    page.get_by_test_id("setup-done").click()
    expect(page.get_by_test_id("current-software")).to_have_text(edge_agent.__version__)
    expect(page.get_by_test_id("connection-status")).to_contain_text("Online")
    reported = refreshed(device).network_status["Ethernet0Status"]
    expect(page.get_by_test_id("network-Ethernet0")).to_contain_text(reported["IpAddress"])
    expect(page.get_by_test_id("serial-number")).to_have_text(refreshed(device).serial_number)

    # Reboot from the device page: the job's every status shows up live, to COMPLETED.
    page.get_by_role("button", name="Reboot").click()
    page.get_by_test_id("bulk-confirm").click()
    page.wait_for_url(f"{live_stack.url}/devices/{device.device_id}/")
    job = page.locator("[data-testid^='job-device-']").first
    expect(job).to_have_attribute("data-status", "COMPLETED", timeout=60_000)
    expect(job).to_contain_text("Rebooting")


def test_an_offline_log_image_on_the_usb_drive_is_read_by_the_console(make_agent, live_stack):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from devices.logimport import import_log_image
    from devices.models import DeviceLog

    device, agent = provisioned_agent(make_agent, "logs", live_stack.url)
    agent.stop()
    managed = agent.usb_dir / "panorama" / "managed_logs"
    managed.mkdir(parents=True)
    agent.start()  # finds panorama/managed_logs/ at start and writes its log image there
    image = wait_for(lambda: next(managed.glob("panorama_device_log_v1_*.img"), None), 60, "image")
    wait_for(lambda: image.stat().st_size > 0 and agent.status().get("connected"), 60, "written")
    imported = import_log_image(
        refreshed(device), SimpleUploadedFile(image.name, image.read_bytes())
    )
    assert imported > 0
    lines = DeviceLog.objects.filter(device=device, source=image.name)
    assert lines.count() == imported
    assert lines.filter(message__icontains="provision").exists()
