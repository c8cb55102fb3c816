"""Appliances. Provisioning, jobs and the device link build on this model ([Appliances])."""

from __future__ import annotations

from django.db import models
from django.db.models import Case, Value, When

from console.ids import new_device_id
from console.status import DeviceAggregatedStatus, DeviceConnectionStatus, DeviceStatus
from console.validators import resource_name_validator


class DeviceQuerySet(models.QuerySet):
    def with_aggregated_status(self) -> DeviceQuerySet:
        """Annotate ``aggregated``, the DeviceAggregatedStatus, for filters and counts in SQL."""
        return self.annotate(aggregated=aggregated_status_expression())


# The rules, first match wins: provisioning problems before connection state; a provisioned
# device is as its link is. One table serves the SQL annotation and the Python property.
_AGGREGATION_RULES: list[tuple[str, str, str]] = [
    ("provisioning_status", DeviceStatus.DELETING, DeviceAggregatedStatus.DELETING),
    ("provisioning_status", DeviceStatus.ERROR, DeviceAggregatedStatus.ERROR),
    ("provisioning_status", DeviceStatus.FAILED, DeviceAggregatedStatus.FAILED),
    (
        "provisioning_status",
        DeviceStatus.AWAITING_PROVISIONING,
        DeviceAggregatedStatus.AWAITING_PROVISIONING,
    ),
    ("provisioning_status", DeviceStatus.PENDING, DeviceAggregatedStatus.PENDING),
    ("connection_status", DeviceConnectionStatus.ERROR, DeviceAggregatedStatus.ERROR),
    ("connection_status", DeviceConnectionStatus.ONLINE, DeviceAggregatedStatus.ONLINE),
]
_AGGREGATION_DEFAULT = DeviceAggregatedStatus.OFFLINE


def aggregated_status_expression() -> Case:
    return Case(
        *(
            When(**{field: value}, then=Value(result))
            for field, value, result in _AGGREGATION_RULES
        ),
        default=Value(_AGGREGATION_DEFAULT),
        output_field=models.CharField(),
    )


class Device(models.Model):
    device_id = models.CharField(max_length=40, unique=True, default=new_device_id, editable=False)
    name = models.CharField(max_length=255, unique=True, validators=[resource_name_validator])
    description = models.CharField(max_length=255, blank=True)
    provisioning_status = models.CharField(
        max_length=32, choices=DeviceStatus.choices, default=DeviceStatus.AWAITING_PROVISIONING
    )
    connection_status = models.CharField(
        max_length=32,
        choices=DeviceConnectionStatus.choices,
        default=DeviceConnectionStatus.AWAITING_CREDENTIALS,
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = DeviceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def aggregated_status(self) -> str:
        """DeviceAggregatedStatus: what the device list and the dashboard show."""
        for field, value, result in _AGGREGATION_RULES:
            if getattr(self, field) == value:
                return result
        return _AGGREGATION_DEFAULT
