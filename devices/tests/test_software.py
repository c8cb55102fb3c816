"""Software images: upload (checked, signed, stored), the pages, update prompts, deleting."""

from __future__ import annotations

import hashlib
import html
import io

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from core.status import UpdateProgress
from devicelink.releases import build_bundle, verify_release
from devices import keys
from devices.models import Device, DeviceJob, SoftwareImage
from devices.software import add_image, refresh_update_needed, software_storage_name
from tests.support.devices import image, make_device, online_device

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def bundle_910() -> bytes:
    return build_bundle(settings.BASE_DIR, "9.1.0")


def upload(client, data: bytes, name: str = "agent-9.1.0.tar.gz", **fields):
    return client.post(
        "/devices/software/add/",
        {"file": SimpleUploadedFile(name, data, "application/gzip"), **fields},
    )


def test_upload_checks_signs_and_stores_the_bundle(admin_client, asset_store, bundle_910):
    response = upload(admin_client, bundle_910, notes="Faster OTA", required="on")
    assert response.status_code == 302, response.content.decode()[-2000:]
    image_ = SoftwareImage.objects.get()
    sha256 = hashlib.sha256(bundle_910).hexdigest()
    assert (image_.version, image_.major, image_.minor, image_.patch) == ("9.1.0", 9, 1, 0)
    assert (image_.sha256, image_.size, image_.required) == (sha256, len(bundle_910), True)
    assert image_.notes == "Faster OTA"
    verify_release(keys.release_public_key(), "9.1.0", sha256, image_.signature)
    with asset_store.open(software_storage_name("9.1.0"), "rb") as stored:
        assert stored.read() == bundle_910
    page = html.unescape(admin_client.get("/devices/software/").content.decode())
    assert "9.1.0" in page and "required" in page and sha256[:14] in page


def test_the_typed_version_must_match_the_bundle(admin_client, asset_store, bundle_910):
    response = upload(admin_client, bundle_910, version="9.2.0")
    page = html.unescape(response.content.decode())
    assert "The bundle is version 9.1.0, not 9.2.0." in page
    assert not SoftwareImage.objects.exists()
    assert not asset_store.exists(software_storage_name("9.2.0"))
    response = upload(admin_client, bundle_910, version="9.1")
    assert "is not a software version" in html.unescape(response.content.decode())


def test_a_file_that_is_no_bundle_is_refused_next_to_the_file(admin_client, asset_store):
    response = upload(admin_client, b"not a tarball", name="agent.tar.gz")
    page = html.unescape(response.content.decode())
    assert "The file is not a gzip'd tar bundle." in page
    # The message sits under the file field, not above the form.
    assert page.index("Release bundle") < page.index("The file is not a gzip'd tar bundle.")
    assert not SoftwareImage.objects.exists()


def test_a_version_is_uploaded_once(admin_client, asset_store, bundle_910):
    assert upload(admin_client, bundle_910).status_code == 302
    page = html.unescape(upload(admin_client, bundle_910).content.decode())
    assert "Version 9.1.0 is uploaded already." in page
    assert SoftwareImage.objects.count() == 1


def test_only_administrators_upload(operator_client, viewer_client, asset_store, bundle_910):
    assert upload(operator_client, bundle_910).status_code == 403
    assert operator_client.get("/devices/software/add/").status_code == 403
    assert viewer_client.get("/devices/software/").status_code == 200
    assert not SoftwareImage.objects.exists()


def test_add_image_direct_and_update_prompts(asset_store, bundle_910, administrator):
    behind = online_device("north-1", current_software="9.0.0")
    ahead = online_device("north-2", current_software="9.2.0")
    silent = make_device(name="south-1")
    add_image(io.BytesIO(bundle_910), "", "", True, administrator)
    flags = dict(Device.objects.values_list("name", "update_needed"))
    assert flags == {"north-1": True, "north-2": False, "south-1": False}
    assert behind.pk and ahead.pk and silent.pk
    # An optional image prompts nobody; deleting the required one clears the prompt.
    SoftwareImage.objects.filter(version="9.1.0").update(required=False)
    refresh_update_needed()
    assert not Device.objects.filter(update_needed=True).exists()


def test_refresh_update_needed_for_some_devices():
    a = online_device("north-1", current_software="1.0.0")
    b = online_device("north-2", current_software="1.0.0")
    image("1.1.0", required=True)
    refresh_update_needed(Device.objects.filter(pk=a.pk))
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.update_needed, b.update_needed) == (True, False)
    assert Device.objects.with_aggregated_status().get(pk=a.pk).aggregated == "UPDATE_NEEDED"


def test_delete_is_refused_while_an_update_installs_the_image(
    admin_client, asset_store, bundle_910
):
    upload(admin_client, bundle_910)
    device = online_device(current_software="9.0.0")
    job = DeviceJob.objects.create(
        job_id="j-1", device=device, job_type="OTA", image_version="9.1.0",
        status=UpdateProgress.DOWNLOADING,
    )  # fmt: skip
    page = html.unescape(admin_client.get("/devices/software/9.1.0/delete/").content.decode())
    assert "Version 9.1.0 is being installed (j-1 on lobby-1)" in page
    admin_client.post("/devices/software/9.1.0/delete/")
    assert SoftwareImage.objects.filter(version="9.1.0").exists()
    job.status = UpdateProgress.COMPLETED
    job.save()
    response = admin_client.post("/devices/software/9.1.0/delete/")
    assert response.status_code == 302
    assert not SoftwareImage.objects.exists()
    assert not asset_store.exists(software_storage_name("9.1.0"))


def test_software_list_sorts_versions_as_numbers(viewer_client):
    for version in ("1.9.0", "1.10.0", "1.2.0"):
        image(version)
    page = viewer_client.get("/devices/software/").content.decode()
    assert page.index("1.10.0") < page.index("1.9.0") < page.index("1.2.0")
