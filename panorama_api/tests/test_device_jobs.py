"""Device jobs through boto3's real ``panorama`` client against the live console:
CreateJobForDevices, DescribeDeviceJob, ListDevicesJobs."""

from __future__ import annotations

import pytest

from core.models import Installation
from core.roles import Role
from core.status import UpdateProgress
from devices.models import DeviceJob
from devices.provisioning import create_device
from tests.support.devices import image, online_device
from tests.support.panorama import checked, error_of

pytestmark = pytest.mark.django_db(transaction=True)


# --- jobs -----------------------------------------------------------------------------------------


def test_a_reboot_job_is_created_described_and_listed(panorama):
    device = online_device("lobby-1")
    other = online_device("lobby-2")
    client = checked(panorama(Role.OPERATOR))
    answer = client.create_job_for_devices(DeviceIds=[device.device_id], JobType="REBOOT")
    assert answer["Jobs"] == [{"JobId": f"{device.device_id}-1", "DeviceId": device.device_id}]
    job = DeviceJob.objects.get(job_id=f"{device.device_id}-1")
    assert job.job_type == "REBOOT"
    assert job.status == "PENDING"
    assert job.created_by.access_keys.exists()  # the key's user

    described = client.describe_device_job(JobId=job.job_id)
    account = Installation.get().account_id
    assert described["JobId"] == job.job_id
    assert described["DeviceId"] == device.device_id
    assert described["DeviceArn"] == (
        f"arn:aws:panorama:us-west-2:{account}:device/{device.device_id}"
    )
    assert described["DeviceName"] == "lobby-1"
    assert described["DeviceType"] == "PANORAMA_APPLIANCE"
    assert described["JobType"] == "REBOOT"
    assert described["Status"] == "PENDING"
    assert "ImageVersion" not in described
    assert "CreatedTime" in described
    assert client.describe_device(DeviceId=device.device_id)["LatestDeviceJob"] == {
        "JobType": "REBOOT",
        "Status": "PENDING",
    }

    # One unfinished job at a time.
    with pytest.raises(client.exceptions.ConflictException) as caught:
        client.create_job_for_devices(DeviceIds=[device.device_id], JobType="REBOOT")
    error = error_of(caught)
    assert error["ResourceId"] == device.device_id
    assert f"still running job {job.job_id}" in error["Error"]["Message"]

    DeviceJob.objects.filter(pk=job.pk).update(status=UpdateProgress.COMPLETED)
    second = client.create_job_for_devices(DeviceIds=[device.device_id], JobType="REBOOT")
    assert second["Jobs"][0]["JobId"] == f"{device.device_id}-2"
    client.create_job_for_devices(DeviceIds=[other.device_id], JobType="REBOOT")

    listed = client.list_devices_jobs(DeviceId=device.device_id)
    assert [j["JobId"] for j in listed["DeviceJobs"]] == [
        f"{device.device_id}-2",
        f"{device.device_id}-1",
    ]
    assert listed["DeviceJobs"][0]["DeviceName"] == "lobby-1"
    assert listed["DeviceJobs"][0]["JobType"] == "REBOOT"
    assert listed["DeviceJobs"][0]["DeviceId"] == device.device_id
    every = client.list_devices_jobs()
    assert len(every["DeviceJobs"]) == 3

    ids, token = [], None
    while True:
        answer = client.list_devices_jobs(MaxResults=1, **({"NextToken": token} if token else {}))
        ids += [j["JobId"] for j in answer["DeviceJobs"]]
        token = answer.get("NextToken")
        if not token:
            break
    assert ids == [j["JobId"] for j in every["DeviceJobs"]]
    assert client.checked_operations >= {
        "CreateJobForDevices", "DescribeDeviceJob", "ListDevicesJobs", "DescribeDevice",
    }  # fmt: skip


def test_an_ota_job_needs_its_image(panorama):
    device = online_device("lobby-1", current_software="1.0.0")
    client = checked(panorama(Role.OPERATOR))
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.create_job_for_devices(DeviceIds=[device.device_id], JobType="OTA")
    assert error_of(caught)["Fields"][0]["Name"] == "DeviceJobConfig.OTAJobConfig"
    ota = {"OTAJobConfig": {"ImageVersion": "1.1.0"}}
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.create_job_for_devices(
            DeviceIds=[device.device_id], JobType="OTA", DeviceJobConfig=ota
        )
    error = error_of(caught)
    assert error["Fields"][0]["Name"] == "DeviceJobConfig.OTAJobConfig.ImageVersion"
    assert "There is no software image 1.1.0" in error["Error"]["Message"]

    image("1.1.0")
    image("2.0.0")
    answer = client.create_job_for_devices(
        DeviceIds=[device.device_id], JobType="OTA", DeviceJobConfig=ota
    )
    job_id = answer["Jobs"][0]["JobId"]
    described = client.describe_device_job(JobId=job_id)
    assert described["ImageVersion"] == "1.1.0"
    assert described["JobType"] == "OTA"
    DeviceJob.objects.filter(job_id=job_id).update(status=UpdateProgress.COMPLETED)

    # A major version update needs AllowMajorVersionUpdate, as on the console.
    major = {"OTAJobConfig": {"ImageVersion": "2.0.0"}}
    with pytest.raises(client.exceptions.ConflictException) as caught:
        client.create_job_for_devices(
            DeviceIds=[device.device_id], JobType="OTA", DeviceJobConfig=major
        )
    assert "lobby-1" in error_of(caught)["Error"]["Message"]
    major["OTAJobConfig"]["AllowMajorVersionUpdate"] = True
    answer = client.create_job_for_devices(
        DeviceIds=[device.device_id], JobType="OTA", DeviceJobConfig=major
    )
    job = DeviceJob.objects.get(job_id=answer["Jobs"][0]["JobId"])
    assert (job.image_version, job.allow_major_version_update) == ("2.0.0", True)


def test_jobs_for_unknown_or_unprovisioned_devices_are_refused(panorama):
    client = panorama(Role.OPERATOR)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.create_job_for_devices(DeviceIds=["device-nosuchdevice"], JobType="REBOOT")
    assert error_of(caught)["ResourceId"] == "device-nosuchdevice"
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.describe_device_job(JobId="device-nosuchdevice-1")
    assert error_of(caught)["ResourceType"] == "job"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.list_devices_jobs(DeviceId="device-nosuchdevice")

    waiting = create_device(name="lobby-1")
    with pytest.raises(client.exceptions.ConflictException) as caught:
        client.create_job_for_devices(DeviceIds=[waiting.device_id], JobType="REBOOT")
    assert "lobby-1 is not provisioned" in error_of(caught)["Error"]["Message"]
    assert not DeviceJob.objects.exists()
