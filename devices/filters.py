import django_filters

from console.status import DeviceAggregatedStatus
from devices.models import Device


class DeviceFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="istartswith", label="Name starts with")
    status = django_filters.ChoiceFilter(
        choices=DeviceAggregatedStatus.choices, field_name="aggregated", label="Status"
    )

    class Meta:
        model = Device
        fields = ["name", "status"]
