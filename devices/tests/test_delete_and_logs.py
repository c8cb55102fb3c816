"""Deleting a device, and importing the offline log images appliances write to USB."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from applications.models import ApplicationInstance
from core import live as console_live
from devicelink.logimage import encrypt_log_image, image_name
from devices import keys
from devices.models import DeletedDevice, Device, DeviceJob, DeviceLog, ProvisioningCredential
from tests.support.devices import online_device

pytestmark = pytest.mark.django_db


@pytest.fixture
def link_messages(monkeypatch):
    """Messages sent to devices' link connections (sent at once, not after commit)."""
    sent = []
    monkeypatch.setattr(
        "devices.desired.send_to_link", lambda group, message: sent.append((group, message))
    )
    return sent


# --- delete -------------------------------------------------------------------------------------


def test_delete_needs_the_typed_name(admin_client, link_messages):
    device = online_device()
    url = f"/devices/{device.device_id}/delete/"
    page = html.unescape(admin_client.get(url).content.decode())
    assert "The appliance itself is not touched." in page
    assert "python -m edge_agent reset --full" in page
    response = admin_client.post(url, {"confirm_name": "lobby-2"})
    assert "Type the name exactly as it is, lobby-1, to delete the device." in html.unescape(
        response.content.decode()
    )
    assert Device.objects.filter(pk=device.pk).exists()
    assert link_messages == []


def test_delete_removes_the_device_and_leaves_a_tombstone(admin_client, link_messages):
    device = online_device()
    ProvisioningCredential.objects.create(
        device=device, token_hash="0" * 64, expires_at=device.created
    )
    DeviceJob.objects.create(job_id="j-1", device=device, job_type="REBOOT")
    DeviceLog.objects.create(
        device=device, time=device.created, stream="syslog", level="INFO", message="x"
    )
    ApplicationInstance.objects.create(name="people-counter", device=device)
    url = f"/devices/{device.device_id}/delete/"
    assert "people-counter" in admin_client.get(url).content.decode()
    response = admin_client.post(url, {"confirm_name": "lobby-1"})
    assert response.status_code == 302 and response["Location"] == "/devices/"
    assert not Device.objects.filter(device_id=device.device_id).exists()
    tombstone = DeletedDevice.objects.get(device_id=device.device_id)
    assert tombstone.name == "lobby-1"
    for model in (ProvisioningCredential, DeviceJob, DeviceLog, ApplicationInstance):
        assert not model.objects.exists(), model
    assert link_messages == [
        (f"link-{device.device_id}",
         {"type": "link.revoke", "reason": "This device was deleted from the console."}),
    ]  # fmt: skip


def test_delete_is_announced_live(
    admin_client, link_messages, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(console_live, "deliver", lambda groups, html_: sent.append((groups, html_)))
    device = online_device()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"/devices/{device.device_id}/delete/", {"confirm_name": "lobby-1"})
    deleted = [html_ for groups, html_ in sent if f"device-{device.device_id}" in groups]
    assert any(f'id="device-row-{device.device_id}" hx-swap-oob="delete"' in h for h in deleted)
    assert any("was deleted from the console" in h for h in deleted)


def test_only_administrators_delete(operator_client, viewer_client):
    device = online_device()
    url = f"/devices/{device.device_id}/delete/"
    assert operator_client.get(url).status_code == 403
    assert operator_client.post(url, {"confirm_name": "lobby-1"}).status_code == 403
    assert viewer_client.post(url, {"confirm_name": "lobby-1"}).status_code == 403
    assert Device.objects.filter(pk=device.pk).exists()


# --- offline log images -------------------------------------------------------------------------

ENTRIES = [
    {"time": 1795550400.25, "stream": "occ_log", "level": "INFO", "message": "agent started"},
    {"time": 1795550401.5, "stream": "syslog", "level": "ERROR", "message": "no route to console"},
]


def log_image(device_id: str, entries=None) -> bytes:
    return encrypt_log_image(
        keys.log_public_key(), device_id, ENTRIES if entries is None else entries
    )


def upload(client, device: Device, data: bytes, name: str | None = None):
    name = name or image_name(datetime(2026, 11, 24, 20, 0, tzinfo=UTC))
    return client.post(
        f"/devices/{device.device_id}/logs/import/",
        {"image": SimpleUploadedFile(name, data, "application/octet-stream")},
    )


def test_log_image_lines_are_imported_with_the_file_as_source(admin_client):
    device = online_device()
    response = upload(admin_client, device, log_image(device.device_id))
    assert response.status_code == 302
    assert response["Location"] == f"/devices/{device.device_id}/#logs"
    logs = list(DeviceLog.objects.filter(device=device).order_by("time"))
    assert [(log.stream, log.level, log.message) for log in logs] == [
        ("occ_log", "INFO", "agent started"),
        ("syslog", "ERROR", "no route to console"),
    ]
    assert {log.source for log in logs} == {"panorama_device_log_v1_24_20_00.img"}
    assert logs[0].time == datetime.fromtimestamp(1795550400.25, tz=UTC)
    page = html.unescape(admin_client.get(response["Location"]).content.decode())
    assert "Imported 2 log lines from panorama_device_log_v1_24_20_00.img." in page
    assert '<option value="panorama_device_log_v1_24_20_00.img"' in page  # filter by source


def test_the_same_file_twice_adds_nothing(admin_client):
    device = online_device()
    data = log_image(device.device_id)
    upload(admin_client, device, data)
    response = upload(admin_client, device, data)
    assert DeviceLog.objects.count() == 2
    page = html.unescape(admin_client.get(response["Location"]).content.decode())
    assert "holds no lines that were not imported already" in page


def test_an_image_of_another_device_is_refused(admin_client):
    device = online_device("north-1")
    other = online_device("north-2")
    response = upload(admin_client, device, log_image(other.device_id))
    page = html.unescape(response.content.decode())
    assert (
        f"This log image was written by device north-2 ({other.device_id}), not by north-1." in page
    )
    assert not DeviceLog.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"garbage", "The file is not a Vantage device log image."),
        (b"VANTAGE-LOG-IMAGE-1\n" + b"\x00" * 100,
         "The log image's header is damaged."),
    ],
)  # fmt: skip
def test_garbage_is_refused(admin_client, data, message):
    device = online_device()
    page = html.unescape(upload(admin_client, device, data).content.decode())
    assert message in page
    assert not DeviceLog.objects.exists()


def test_malformed_entries_import_nothing(admin_client):
    device = online_device()
    bad = [*ENTRIES, {"time": 1.0, "stream": "Bad Stream!", "level": "INFO", "message": "x"}]
    page = html.unescape(
        upload(admin_client, device, log_image(device.device_id, bad)).content.decode()
    )
    assert "Entry 3 of the log image is malformed (stream:" in page
    assert not DeviceLog.objects.exists()


def test_only_administrators_import_logs(operator_client):
    device = online_device()
    assert upload(operator_client, device, log_image(device.device_id)).status_code == 403
