"""create_jobs: which devices may take a reboot or an update, job ids, events, publishing."""

from __future__ import annotations

import pytest

from core.status import DeviceStatus, JobType, UpdateProgress
from devices import desired, jobs, live
from devices.jobs import JobRefused, create_jobs
from devices.models import DeviceJob
from tests.support.devices import image, online_device

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    """Devices whose desired state was published, and jobs announced live."""
    calls = {"published": [], "live": []}
    monkeypatch.setattr(desired, "publish", lambda device: calls["published"].append(device.pk))
    monkeypatch.setattr(live, "job_updated", lambda job: calls["live"].append(job.job_id))
    return calls


def refused(devices, job_type, **kwargs) -> list[str]:
    with pytest.raises(JobRefused) as caught:
        create_jobs(devices, job_type, **kwargs)
    assert not DeviceJob.objects.exists()
    return caught.value.messages


def test_a_reboot_creates_a_pending_job_with_its_first_event(published, administrator):
    device = online_device()
    [job] = create_jobs([device], JobType.REBOOT, user=administrator)
    assert job.job_id == f"{device.device_id}-1"
    assert job.status == UpdateProgress.PENDING
    assert job.created_by == administrator
    assert list(job.events.values_list("status", flat=True)) == ["PENDING"]
    assert published == {"published": [device.pk], "live": [job.job_id]}


def test_job_ids_count_up_per_device(published):
    a, b = online_device("north-1"), online_device("north-2")
    create_jobs([a, b], JobType.REBOOT)
    DeviceJob.objects.update(status=UpdateProgress.COMPLETED)
    [second] = create_jobs([a], JobType.REBOOT)
    assert second.job_id == f"{a.device_id}-2"
    a.refresh_from_db()
    assert a.job_counter == 2
    DeviceJob.objects.update(status=UpdateProgress.FAILED)
    assert create_jobs([a], JobType.REBOOT)[0].job_id == f"{a.device_id}-3"


def test_devices_must_be_provisioned(published):
    for status in (DeviceStatus.AWAITING_PROVISIONING, DeviceStatus.PENDING, DeviceStatus.FAILED):
        device = online_device(f"dev-{status.lower()}", provisioning_status=status)
        [message] = refused([device], JobType.REBOOT)
        assert f"{device.name} is not provisioned" in message


def test_one_unfinished_job_at_a_time(published):
    device = online_device()
    [job] = create_jobs([device], JobType.REBOOT)
    DeviceJob.objects.filter(pk=job.pk).update(status=UpdateProgress.DOWNLOADING)
    with pytest.raises(JobRefused) as caught:
        create_jobs([device], JobType.REBOOT)
    assert caught.value.messages == [
        f"lobby-1 is still running job {job.job_id} (Reboot, Downloading); wait until it has "
        "finished."
    ]
    assert DeviceJob.objects.count() == 1


def test_update_needs_an_existing_newer_image(published):
    device = online_device(current_software="1.2.0")
    assert refused([device], JobType.OTA) == ["Choose the software version to install."]
    assert refused([device], JobType.OTA, image_version="9.9.9") == [
        "There is no software image 9.9.9; upload it under Software images first."
    ]
    image("1.1.0")
    image("1.2.0")
    assert refused([device], JobType.OTA, image_version="1.1.0") == [
        "lobby-1: Version 1.1.0 is older than the installed 1.2.0; downgrades are refused."
    ]
    assert refused([device], JobType.OTA, image_version="1.2.0") == [
        "lobby-1: Version 1.2.0 is already installed."
    ]


def test_a_major_update_needs_to_be_allowed(published):
    device = online_device(current_software="1.2.0")
    image("2.0.0")
    [message] = refused([device], JobType.OTA, image_version="2.0.0")
    assert "is a major-version update from 1.2.0" in message
    [job] = create_jobs(
        [device], JobType.OTA, image_version="2.0.0", allow_major_version_update=True
    )
    assert (job.image_version, job.allow_major_version_update) == ("2.0.0", True)


def test_an_update_needs_a_reported_version(published):
    device = online_device(current_software="")
    image("1.0.0")
    [message] = refused([device], JobType.OTA, image_version="1.0.0")
    assert "has not reported its software version yet" in message


def test_all_or_none_and_every_problem_is_named(published):
    good = online_device("north-1", current_software="1.0.0")
    old = online_device("north-2", current_software="1.5.0")
    image("1.2.0")
    messages = refused([good, old], JobType.OTA, image_version="1.2.0")
    assert messages == [
        "north-2: Version 1.2.0 is older than the installed 1.5.0; downgrades are refused."
    ]
    assert published["published"] == []


def test_unknown_job_type_and_empty_selection(published):
    device = online_device()
    assert "is not a job type" in refused([device], "FORMAT")[0]
    assert refused([], JobType.REBOOT) == ["Choose at least one device."]


def test_created_jobs_reach_the_desired_state():
    device = online_device(current_software="1.0.0")
    image("1.1.0")
    create_jobs([device], JobType.OTA, image_version="1.1.0")
    device.refresh_from_db()
    assert device.desired_version == 1
    document = desired.build_desired(device)
    assert [(spec.job_type, spec.image_version) for spec in document.jobs] == [("OTA", "1.1.0")]


def test_running_job_helper_matches():
    device = online_device()
    assert jobs.running_job(device) is None
