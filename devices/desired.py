"""Desired state: what an appliance should be doing, as the link sends it (``desired``).

Whenever that changes (a job is created, an application is deployed), call ``publish()``: it
bumps the device's desired version and nudges its link connection, which sends the new state.
The link also compares versions on every heartbeat, so a nudge that is lost (the device was
offline, a process restarted) costs at most one heartbeat interval, never the change.
"""

from __future__ import annotations

from django.db.models import F

from core import groups
from core.live import send_to_link
from core.status import JobType
from devicelink import SOFTWARE_PATH
from devicelink.messages import Desired, JobSpec
from devices import hooks
from devices.models import TERMINAL_JOB_STATUSES, Device, SoftwareImage


def publish(device: Device) -> None:
    """The device's desired state changed: bump its version and tell its link."""
    Device.objects.filter(pk=device.pk).update(desired_version=F("desired_version") + 1)
    send_to_link(groups.link(device.device_id), {"type": "link.desired"})


def revoke(device_id: str, reason: str) -> None:
    """Tell the device's link (if connected) that its credentials are revoked."""
    send_to_link(groups.link(device_id), {"type": "link.revoke", "reason": reason})


def build_desired(device: Device) -> Desired:
    """The desired state document for ``device`` as it stands in the database."""
    jobs = []
    pending = device.jobs.exclude(status__in=TERMINAL_JOB_STATUSES).order_by("created", "id")
    images = {image.version: image for image in SoftwareImage.objects.all()}
    for job in pending:
        spec = JobSpec(job_id=job.job_id, job_type=job.job_type)
        if job.job_type == JobType.OTA:
            image = images.get(job.image_version)
            if image is None:
                # The image was deleted after the job was created; the job fails on the device.
                spec.image_version = job.image_version
            else:
                spec.image_version = image.version
                spec.allow_major_version_update = job.allow_major_version_update
                spec.bundle_path = SOFTWARE_PATH.format(version=image.version)
                spec.sha256 = image.sha256
                spec.signature = image.signature
                spec.size = image.size
        jobs.append(spec)
    # The other apps' sections (applications: what the device runs), from devices.hooks.
    sections = {name: build(device) for name, build in hooks.desired_sections.items()}
    return Desired(version=device.desired_version, jobs=jobs, **sections)
