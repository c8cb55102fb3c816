"""Application instances. Packages, deployment and the lifecycle build on this ([Deploy])."""

from __future__ import annotations

from django.db import models

from console.ids import new_application_instance_id
from console.status import ApplicationInstanceHealthStatus, ApplicationInstanceStatus
from console.validators import resource_name_validator


class ApplicationInstance(models.Model):
    application_instance_id = models.CharField(
        max_length=60, unique=True, default=new_application_instance_id, editable=False
    )
    name = models.CharField(max_length=255, validators=[resource_name_validator])
    description = models.CharField(max_length=255, blank=True)
    device = models.ForeignKey(
        "devices.Device", on_delete=models.PROTECT, related_name="application_instances"
    )
    status = models.CharField(
        max_length=32,
        choices=ApplicationInstanceStatus.choices,
        default=ApplicationInstanceStatus.DEPLOYMENT_PENDING,
    )
    health_status = models.CharField(
        max_length=32,
        choices=ApplicationInstanceHealthStatus.choices,
        default=ApplicationInstanceHealthStatus.NOT_AVAILABLE,
    )
    status_description = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name
