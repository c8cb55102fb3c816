"""The device list (filters, bulk actions) and a device's page (panels, logs, edit)."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from applications.models import ApplicationInstance
from core.status import UpdateProgress
from devices.models import Device, DeviceJob, DeviceJobEvent, DeviceLog
from devices.presenters import status_light
from tests.support.devices import (
    NETWORK_STATUS,
    image,
    make_device,
    online_device,
)

pytestmark = pytest.mark.django_db


def log(device: Device, level: str, message: str, *, source: str = "link", minute: int = 0):
    return DeviceLog.objects.create(
        device=device,
        time=datetime(2026, 11, 24, 20, minute, tzinfo=UTC),
        stream="occ_log",
        level=level,
        message=message,
        source=source,
    )


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


# --- the device page ------------------------------------------------------------------------------


def test_device_page_shows_what_the_appliance_reported(viewer_client):
    device = online_device(
        tags={"site": "lobby"},
        description="Main entrance",
        network_status=NETWORK_STATUS,
        network_config={"Ethernet0": {"ConnectionType": "DHCP"},
                        "Ntp": {"NtpServers": ["time.example"]}},
        network_updated=timezone.now(),
        health={"cpu_percent": 23.4, "memory_percent": 61.0, "disk_percent": 12.0,
                "temperature_c": 54.25, "uptime_s": 7500, "load_1m": 0.42},
        accelerators=["nvidia"],
    )  # fmt: skip
    job = DeviceJob.objects.create(
        job_id=f"{device.device_id}-1", device=device, job_type="OTA", image_version="1.1.0",
        status=UpdateProgress.FAILED, reason="The bundle's signature does not verify.",
    )  # fmt: skip
    for status in ("PENDING", "DOWNLOADING", "VERIFYING", "FAILED"):
        DeviceJobEvent.objects.create(job=job, status=status)
    log(device, "INFO", "agent started")
    ApplicationInstance.objects.create(name="people-counter", device=device)
    page = text(viewer_client.get(f"/devices/{device.device_id}/"))
    for expected in (
        "192.168.0.10/24", "8e:0f:aa:bb:cc:dd", "162.159.200.1", "time.example",
        "23 %", "61 %", "54.2 °C", "2 h 5 min", "0.42",
        "123456789012", "Main entrance", "site: lobby", "NVIDIA GPU",
        job.job_id, "The bundle's signature does not verify.", "Downloading", "Verifying",
        "agent started", "people-counter",
        "Status light: Solid green", "The appliance is operating normally.",
        f'ws-connect="/ws/live/?groups=device-{device.device_id}"',
    ):  # fmt: skip
        assert expected in page, expected
    for region in ("device-status-panel", "device-software", "device-network", "device-health",
                   "device-jobs", "device-details", "device-logs", "device-log-lines"):  # fmt: skip
        assert f'id="{region}"' in page, region
    # The device's credential never appears.
    assert device.public_key not in page


def test_viewers_see_no_actions_operators_reboot_administrators_edit(
    viewer_client, operator_client, admin_client
):
    device = online_device()
    url = f"/devices/{device.device_id}/"
    viewer_page = text(viewer_client.get(url))
    assert "Reboot</button>" not in viewer_page and "Delete</a>" not in viewer_page
    assert "Install update</button>" not in viewer_page
    operator_page = text(operator_client.get(url))
    assert "Reboot</button>" in operator_page
    assert "Edit description and tags" not in operator_page
    admin_page = text(admin_client.get(url))
    assert "Edit description and tags" in admin_page and "Upload offline log image" in admin_page


def test_required_update_shows_a_prompt_and_the_install_action(operator_client):
    device = online_device(current_software="1.0.0", update_needed=True)
    image("1.1.0", required=True)
    image("0.9.0")
    page = text(operator_client.get(f"/devices/{device.device_id}/"))
    assert "A required software update is available: version <strong>1.1.0</strong>" in page
    assert 'data-testid="latest-software">1.1.0' in page
    assert '<option value="1.1.0">1.1.0 (required)</option>' in page
    assert '<option value="0.9.0">' not in page  # only newer versions are offered


def test_no_prompt_when_the_required_update_is_installed(viewer_client):
    device = online_device(current_software="1.1.0")
    image("1.1.0", required=True)
    assert "A required software update" not in text(
        viewer_client.get(f"/devices/{device.device_id}/")
    )


def test_unknown_device_is_404(viewer_client):
    assert viewer_client.get("/devices/device-doesnotexist/").status_code == 404


@pytest.mark.parametrize(
    ("fields", "job_status", "colour", "blink"),
    [
        ({}, None, "green", "solid"),
        ({"connection_status": "OFFLINE"}, None, "off", "solid"),
        ({"provisioning_status": "AWAITING_PROVISIONING"}, None, "off", "solid"),
        ({"provisioning_status": "PENDING"}, None, "blue", "slow"),
        ({"provisioning_status": "FAILED"}, None, "red", "solid"),
        ({"provisioning_status": "ERROR"}, None, "red", "solid"),
        ({"activity": "REBOOTING", "connection_status": "OFFLINE"}, None, "green", "fast"),
        ({}, "DOWNLOADING", "orange", "slow"),
        ({}, "REBOOTING", "green", "fast"),
    ],
)
def test_status_light_follows_the_device_state(fields, job_status, colour, blink):
    device = online_device(**fields)
    job = None
    if job_status:
        job = DeviceJob.objects.create(
            job_id="j-1", device=device, job_type="OTA", image_version="2.0.0", status=job_status
        )
    light = status_light(device, job)
    assert (light.colour, light.blink) == (colour, blink)
    assert light.meaning


# --- logs -----------------------------------------------------------------------------------------


def test_level_filter_shows_the_minimum_level_and_above(viewer_client):
    device = online_device()
    log(device, "DEBUG", "debug-line", minute=1)
    log(device, "INFO", "info-line", minute=2)
    log(device, "WARNING", "warning-line", minute=3)
    log(device, "ERROR", "error-line", minute=4)
    url = f"/devices/{device.device_id}/"
    page = text(viewer_client.get(url))
    assert page.index("debug-line") < page.index("error-line")  # oldest first, like a tail
    page = text(viewer_client.get(url + "?level=WARNING"))
    assert "warning-line" in page and "error-line" in page
    assert "info-line" not in page and "debug-line" not in page
    assert "logs-min-WARNING" in page  # lines that arrive live are filtered too
    assert f"/devices/{device.device_id}/logs.txt?level=WARNING" in page
    # An invalid level is ignored rather than an error.
    assert "debug-line" in text(viewer_client.get(url + "?level=LOUD"))


def test_log_download_is_text_with_the_same_filter(viewer_client):
    device = online_device()
    log(device, "INFO", "info-line", minute=1)
    log(device, "ERROR", "error-line", minute=2)
    log(device, "ERROR", "from-usb", minute=3, source="panorama_device_log_v1_24_20_03.img")
    response = viewer_client.get(f"/devices/{device.device_id}/logs.txt?level=ERROR")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="lobby-1-logs.txt"'
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines() == [
        "2026-11-24 20:02:00.000 ERROR occ_log: error-line",
        "2026-11-24 20:03:00.000 ERROR occ_log [panorama_device_log_v1_24_20_03.img]: from-usb",
    ]
    response = viewer_client.get(
        f"/devices/{device.device_id}/logs.txt?source=panorama_device_log_v1_24_20_03.img"
    )
    assert b"".join(response.streaming_content).decode().count("\n") == 1


def test_source_filter(viewer_client):
    device = online_device()
    log(device, "INFO", "live-line")
    log(device, "INFO", "usb-line", source="panorama_device_log_v1_24_20_03.img")
    page = text(
        viewer_client.get(
            f"/devices/{device.device_id}/?source=panorama_device_log_v1_24_20_03.img"
        )
    )
    assert "usb-line" in page and "live-line" not in page
    assert "logs-hide-live" in page


# --- the list -------------------------------------------------------------------------------------


def test_list_shows_status_software_heartbeat_and_applications(viewer_client):
    device = online_device(current_software="1.0.0")
    image("1.2.0")
    ApplicationInstance.objects.create(name="app-a", device=device)
    ApplicationInstance.objects.create(name="app-b", device=device)
    page = text(viewer_client.get("/devices/"))
    assert f'href="/devices/{device.device_id}/">lobby-1</a>' in page
    assert f'id="device-status-{device.device_id}"' in page
    assert f'id="device-row-{device.device_id}"' in page
    assert "1.0.0 / 1.2.0" in page
    assert ">2</td>" in page
    assert 'type="checkbox" name="device"' not in page  # viewers have no bulk actions
    assert "Set up device" not in page


def test_administrators_see_set_up_device_and_bulk_actions(admin_client):
    online_device()
    page = text(admin_client.get("/devices/"))
    assert 'href="/devices/add/"' in page and "Set up device" in page
    assert 'type="checkbox" name="device"' in page
    assert '<option value="tag">Add tag</option>' in page


def names(page: str) -> set[str]:
    return {name for name in ("north-1", "north-2", "south-1", "east-1") if f">{name}</a>" in page}


def test_filters_by_tag_name_prefix_and_status(viewer_client):
    online_device("north-1", tags={"site": "lobby", "floor": "2"})
    online_device("north-2", tags={"site": "garage"}, connection_status="OFFLINE")
    make_device(name="south-1", tags={"site": "lobby"})
    make_device(name="east-1", tags={"zone__x": "a:b"})
    get = lambda query: names(text(viewer_client.get(f"/devices/?{query}")))  # noqa: E731
    assert get("tag=site:lobby") == {"north-1", "south-1"}
    assert get("tag=site") == {"north-1", "north-2", "south-1"}
    assert get("tag=floor:2") == {"north-1"}
    assert get("tag=site:nowhere") == set()
    assert get("tag=zone__x:a:b") == {"east-1"}  # "__" in a key is a key, not a lookup
    assert get("name=nor") == {"north-1", "north-2"}
    assert get("status=OFFLINE") == {"north-2"}
    assert get("status=AWAITING_PROVISIONING&tag=site:lobby") == {"south-1"}
    page = text(viewer_client.get("/devices/?tag=bad!key"))
    assert "Filter tags as key or key:value" in page
    assert names(page) == set()


def test_api_filters_by_tag(viewer_client):
    online_device("north-1", tags={"site": "lobby"})
    online_device("north-2", tags={"site": "garage"})
    results = viewer_client.get("/api/devices/?tag=site:lobby").json()["results"]
    assert [device["name"] for device in results] == ["north-1"]
    assert viewer_client.get("/api/devices/?tag=bad!").status_code == 400


# --- bulk actions ---------------------------------------------------------------------------------


def test_bulk_reboot_confirmation_lists_the_devices_then_creates_jobs(operator_client):
    a, b = online_device("north-1"), online_device("north-2")
    query = f"action=reboot&device={a.device_id}&device={b.device_id}"
    page = text(operator_client.get(f"/devices/bulk/?{query}"))
    assert "Reboot devices" in page
    assert "2 devices will reboot." in page
    assert ">north-1</a>" in page and ">north-2</a>" in page
    assert 'data-testid="bulk-confirm"' in page
    assert not DeviceJob.objects.exists()  # nothing happens before confirming
    response = operator_client.post(
        "/devices/bulk/", {"action": "reboot", "device": [a.device_id, b.device_id]}
    )
    assert response.status_code == 302 and response["Location"] == "/devices/"
    assert sorted(DeviceJob.objects.values_list("job_id", flat=True)) == sorted(
        [f"{a.device_id}-1", f"{b.device_id}-1"]
    )


def test_bulk_confirmation_names_the_problems_and_offers_no_confirm(operator_client):
    ready = online_device("north-1")
    new = make_device(name="south-1")
    page = text(
        operator_client.get(
            f"/devices/bulk/?action=reboot&device={ready.device_id}&device={new.device_id}"
        )
    )
    assert "south-1 is not provisioned (Awaiting provisioning); set it up first." in page
    assert 'data-testid="bulk-confirm"' not in page
    response = operator_client.post(
        "/devices/bulk/", {"action": "reboot", "device": [ready.device_id, new.device_id]}
    )
    assert "south-1 is not provisioned" in text(response)
    assert not DeviceJob.objects.exists()  # all or none


def test_bulk_update_needs_a_version_and_checks_it(operator_client):
    device = online_device("north-1", current_software="2.0.0")
    image("1.5.0")
    image("3.0.0")
    page = text(operator_client.get(f"/devices/bulk/?action=update&device={device.device_id}"))
    assert "Choose the software version to install." in page
    page = text(
        operator_client.get(
            f"/devices/bulk/?action=update&image_version=1.5.0&device={device.device_id}"
        )
    )
    assert (
        "north-1: Version 1.5.0 is older than the installed 2.0.0; downgrades are refused." in page
    )
    page = text(
        operator_client.get(
            f"/devices/bulk/?action=update&image_version=3.0.0&device={device.device_id}"
        )
    )
    assert "is a major-version update from 2.0.0" in page
    query = (
        f"action=update&image_version=3.0.0&allow_major_version_update=on&device={device.device_id}"
    )
    page = text(operator_client.get(f"/devices/bulk/?{query}&next=/devices/{device.device_id}/"))
    assert "1 device will install version 3.0.0." in page
    assert 'name="allow_major_version_update" value="on"' in page
    response = operator_client.post(
        "/devices/bulk/",
        {"action": "update", "image_version": "3.0.0", "allow_major_version_update": "on",
         "device": [device.device_id], "next": f"/devices/{device.device_id}/"},
    )  # fmt: skip
    assert response["Location"] == f"/devices/{device.device_id}/"
    job = DeviceJob.objects.get()
    assert (job.job_type, job.image_version, job.allow_major_version_update) == (
        "OTA",
        "3.0.0",
        True,
    )


def test_bulk_next_must_stay_on_the_console(operator_client):
    device = online_device()
    response = operator_client.post(
        "/devices/bulk/",
        {"action": "reboot", "device": [device.device_id], "next": "https://evil.example/"},
    )
    assert response["Location"] == "/devices/"


def test_bulk_add_tag_is_for_administrators(operator_client, admin_client):
    a, b = online_device("north-1", tags={"site": "old"}), make_device(name="south-1")
    query = f"action=tag&tag_key=site&tag_value=lobby&device={a.device_id}&device={b.device_id}"
    assert operator_client.get(f"/devices/bulk/?{query}").status_code == 403
    page = text(admin_client.get(f"/devices/bulk/?{query}"))
    assert "2 devices will get the tag site: lobby." in page
    response = admin_client.post(
        "/devices/bulk/",
        {"action": "tag", "tag_key": "site", "tag_value": "lobby",
         "device": [a.device_id, b.device_id]},
    )  # fmt: skip
    assert response.status_code == 302
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.tags == {"site": "lobby"} and b.tags == {"site": "lobby"}
    page = text(admin_client.get(f"/devices/bulk/?action=tag&tag_key=bad!&device={a.device_id}"))
    assert "Tag key 'bad!'" in page


def test_viewers_cannot_open_bulk_actions(viewer_client):
    device = online_device()
    assert (
        viewer_client.get(f"/devices/bulk/?action=reboot&device={device.device_id}").status_code
        == 403
    )


# --- editing --------------------------------------------------------------------------------------


def test_administrator_edits_description_and_tags_not_the_name(admin_client, operator_client):
    device = online_device(tags={"site": "lobby"})
    url = f"/devices/{device.device_id}/edit/"
    assert operator_client.get(url).status_code == 403
    page = text(admin_client.get(url))
    assert 'value="site"' in page and 'value="lobby"' in page
    assert 'name="name"' not in page
    response = admin_client.post(
        url,
        {"description": "Back door", "tags_key": ["site", "zone"], "tags_value": ["garage", "b"],
         "name": "renamed"},
    )  # fmt: skip
    assert response.status_code == 302
    device.refresh_from_db()
    assert (device.name, device.description, device.tags) == (
        "lobby-1", "Back door", {"site": "garage", "zone": "b"},
    )  # fmt: skip
    response = admin_client.post(
        url, {"description": "", "tags_key": ["bad key!"], "tags_value": [""]}
    )
    assert "Tag key 'bad key!'" in text(response)
