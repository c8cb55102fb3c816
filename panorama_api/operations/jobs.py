"""Device jobs: CreateJobForDevices (OTA, REBOOT), DescribeDeviceJob, ListDevicesJobs.

Jobs are created by ``devices.jobs.create_jobs``, the same function the device list's bulk
actions and the REST API call: one job per device, all or none, one unfinished job at a time.
"""

from __future__ import annotations

from typing import Any

from core.status import JobType as JobTypes
from devices.jobs import JobRefused, create_jobs
from devices.models import Device, DeviceJob, SoftwareImage
from panorama_api.arns import arn
from panorama_api.call import Call
from panorama_api.errors import Conflict, NotFound, ValidationError
from panorama_api.operations.devices import get_device
from panorama_api.pagination import page
from panorama_api.registry import operation

IMAGE_VERSION = "DeviceJobConfig.OTAJobConfig.ImageVersion"


def _job(job_id: str) -> DeviceJob:
    job = DeviceJob.objects.select_related("device").filter(job_id=job_id).first()
    if job is None:
        raise NotFound(f"Job {job_id} not found.", job_id, "job")
    return job


@operation("CreateJobForDevices")
def create_job_for_devices(
    call: Call,
    *,
    DeviceIds: list[str],
    JobType: str,
    DeviceJobConfig: dict[str, Any] | None = None,
) -> dict[str, Any]:
    ids = list(dict.fromkeys(DeviceIds))
    found = {d.device_id: d for d in Device.objects.filter(device_id__in=ids)}
    for device_id in ids:
        if device_id not in found:
            raise NotFound(f"Device {device_id} not found.", device_id, "device")
    devices = [found[device_id] for device_id in ids]
    image_version, allow_major = None, False
    if JobType == JobTypes.OTA:
        ota = (DeviceJobConfig or {}).get("OTAJobConfig")
        if not ota:
            raise ValidationError(
                "An OTA job needs DeviceJobConfig.OTAJobConfig with the ImageVersion to install.",
                fields=[("DeviceJobConfig.OTAJobConfig", "required when JobType is OTA")],
            )
        image_version = ota["ImageVersion"]
        allow_major = bool(ota.get("AllowMajorVersionUpdate", False))
        if not SoftwareImage.objects.filter(version=image_version).exists():
            raise ValidationError(
                f"There is no software image {image_version}; upload it under Software images "
                "first.",
                fields=[(IMAGE_VERSION, f"no software image {image_version}")],
            )
    try:
        jobs = create_jobs(
            devices,
            JobType,
            image_version=image_version,
            allow_major_version_update=allow_major,
            user=call.user,
        )
    except JobRefused as exc:
        # The device's state refuses it: not provisioned, busy with a job, version rules.
        raise Conflict(" ".join(exc.messages), devices[0].device_id, "device") from None
    return {"Jobs": [{"JobId": job.job_id, "DeviceId": job.device.device_id} for job in jobs]}


@operation("DescribeDeviceJob")
def describe_device_job(call: Call, *, JobId: str) -> dict[str, Any]:
    job = _job(JobId)
    device = job.device
    result = {
        "JobId": job.job_id,
        "DeviceId": device.device_id,
        "DeviceArn": arn("device", device.device_id),
        "DeviceName": device.name,
        "DeviceType": device.device_type,
        "JobType": job.job_type,
        "Status": job.status,
        "CreatedTime": job.created,
    }
    if job.image_version:
        result["ImageVersion"] = job.image_version
    return result


@operation("ListDevicesJobs")
def list_devices_jobs(
    call: Call,
    *,
    DeviceId: str | None = None,
    MaxResults: int | None = None,
    NextToken: str | None = None,
) -> dict[str, Any]:
    jobs = DeviceJob.objects.select_related("device").order_by("-created", "-id")
    if DeviceId is not None:
        jobs = jobs.filter(device=get_device(DeviceId))
    chunk, token = page(jobs, MaxResults, NextToken, "ListDevicesJobs")
    result: dict[str, Any] = {
        "DeviceJobs": [
            {
                "DeviceName": job.device.name,
                "DeviceId": job.device.device_id,
                "JobId": job.job_id,
                "JobType": job.job_type,
                "CreatedTime": job.created,
            }
            for job in chunk
        ]
    }
    if token:
        result["NextToken"] = token
    return result
