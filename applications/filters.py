"""The application list's filters: device and status, as ListApplicationInstances has them.

``status`` takes Panorama's StatusFilter values, whose two groups PROCESSING_DEPLOYMENT and
PROCESSING_REMOVAL stand for every status of a deployment or removal under way.
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from applications.models import PROCESSING_DEPLOYMENT, PROCESSING_REMOVAL, ApplicationInstance
from core.status import (
    ApplicationInstanceHealthStatus,
    ApplicationInstanceStatus,
    StatusFilter,
)
from devices.models import Device

STATUS_GROUPS = {
    StatusFilter.PROCESSING_DEPLOYMENT: PROCESSING_DEPLOYMENT,
    StatusFilter.PROCESSING_REMOVAL: PROCESSING_REMOVAL,
}


class ApplicationInstanceFilter(django_filters.FilterSet):
    device = django_filters.ModelChoiceFilter(
        queryset=Device.objects.order_by("name"),
        to_field_name="device_id",
        empty_label="Any device",
        label="Device",
    )
    # Panorama's StatusFilter values (with its two groups), and every single status too.
    status = django_filters.ChoiceFilter(
        choices=StatusFilter.choices
        + [c for c in ApplicationInstanceStatus.choices if c[0] not in StatusFilter.values],
        method="filter_status",
        empty_label="Any status",
    )

    health_status = django_filters.ChoiceFilter(
        choices=ApplicationInstanceHealthStatus.choices, empty_label="Any health"
    )

    class Meta:
        model = ApplicationInstance
        fields = ["device", "status", "health_status"]

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(status__in=STATUS_GROUPS.get(value, (value,)))
