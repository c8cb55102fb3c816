"""Device jobs: reboot an appliance or install a software update (OTA) on it.

A job is only recorded here; the device's link sends it as part of the desired state, and the
agent reports its progress (PENDING → DOWNLOADING → VERIFYING → IN_PROGRESS → REBOOTING →
COMPLETED, or FAILED with a reason), which the link stores as DeviceJobEvents.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from core.status import JobType, UpdateProgress, status_label
from devicelink.releases import ReleaseError, check_update_allowed
from devices import desired, live
from devices.models import (
    Device,
    DeviceJob,
    DeviceJobEvent,
    SoftwareImage,
)
from devices.presenters import running_job


class JobRefused(ValidationError):
    """One or more devices cannot take the job; ``messages`` says why, one line per problem."""


def job_problems(
    devices: Iterable[Device],
    job_type: str,
    *,
    image_version: str | None = None,
    allow_major_version_update: bool = False,
) -> list[str]:
    """Why each device cannot take the job (empty when every one can)."""
    devices = list(devices)
    problems: list[str] = []
    if job_type not in JobType.values:
        return [f"{job_type!r} is not a job type; use one of {', '.join(JobType.values)}."]
    if not devices:
        return ["Choose at least one device."]
    image = None
    if job_type == JobType.OTA:
        if not image_version:
            return ["Choose the software version to install."]
        image = SoftwareImage.objects.filter(version=image_version).first()
        if image is None:
            return [
                f"There is no software image {image_version}; upload it under Software images "
                "first."
            ]
    for device in devices:
        if not device.is_provisioned:
            problems.append(
                f"{device.name} is not provisioned ({status_label(device.provisioning_status)}); "
                "set it up first."
            )
            continue
        job = running_job(device)
        if job is not None:
            problems.append(
                f"{device.name} is still running job {job.job_id} ({job.get_job_type_display()}, "
                f"{status_label(job.status)}); wait until it has finished."
            )
            continue
        if image is not None:
            if not device.current_software:
                problems.append(
                    f"{device.name} has not reported its software version yet; wait until it "
                    "is online."
                )
                continue
            try:
                check_update_allowed(
                    device.current_software,
                    image.version,
                    allow_major=allow_major_version_update,
                )
            except ReleaseError as exc:
                problems.append(f"{device.name}: {exc}")
    return problems


def create_jobs(
    devices: Iterable[Device],
    job_type: str,
    *,
    image_version: str | None = None,
    allow_major_version_update: bool = False,
    user=None,
) -> list[DeviceJob]:
    """Create one job per device, all or none; JobRefused lists every device that cannot."""
    devices = list(devices)
    problems = job_problems(
        devices,
        job_type,
        image_version=image_version,
        allow_major_version_update=allow_major_version_update,
    )
    if problems:
        raise JobRefused(problems, code="refused")
    jobs = []
    with transaction.atomic():
        for device in devices:
            # Locking the row serializes job numbers and the one-job-at-a-time rule between
            # concurrent requests (SQLite serializes the whole write transaction instead).
            locked = Device.objects.select_for_update().get(pk=device.pk)
            job = running_job(locked)
            if job is not None:
                raise JobRefused(
                    [
                        f"{locked.name} is still running job {job.job_id}; wait until it "
                        "has finished."
                    ],
                    code="refused",
                )
            locked.job_counter += 1
            locked.save(update_fields=["job_counter", "updated"])
            job = DeviceJob.objects.create(
                job_id=f"{locked.device_id}-{locked.job_counter}",
                device=locked,
                job_type=job_type,
                image_version=(image_version or "") if job_type == JobType.OTA else "",
                allow_major_version_update=(
                    allow_major_version_update if job_type == JobType.OTA else False
                ),
                status=UpdateProgress.PENDING,
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )
            DeviceJobEvent.objects.create(job=job, status=UpdateProgress.PENDING)
            desired.publish(locked)
            live.job_updated(job)
            jobs.append(job)
    return jobs
