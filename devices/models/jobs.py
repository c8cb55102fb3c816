"""Device jobs (REBOOT, OTA) and the history of every status they went through."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.status import JobType, UpdateProgress
from devices.models.devices import Device

TERMINAL_JOB_STATUSES = (UpdateProgress.COMPLETED, UpdateProgress.FAILED)


class DeviceJob(models.Model):
    job_id = models.CharField(max_length=64, unique=True)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="jobs")
    job_type = models.CharField(max_length=10, choices=JobType.choices)
    image_version = models.CharField(max_length=20, blank=True)
    allow_major_version_update = models.BooleanField(default=False)
    status = models.CharField(
        max_length=20, choices=UpdateProgress.choices, default=UpdateProgress.PENDING
    )
    reason = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return self.job_id

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


class DeviceJobEvent(models.Model):
    job = models.ForeignKey(DeviceJob, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=20, choices=UpdateProgress.choices)
    reason = models.CharField(max_length=1000, blank=True)
    time = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["time", "id"]

    def __str__(self) -> str:
        return f"{self.job} {self.status}"
