from django_filters.views import FilterView
from django_tables2 import SingleTableMixin

from console.access import PolicyMixin
from console.roles import READ_ADMINISTER
from devices.filters import DeviceFilter
from devices.models import Device
from devices.tables import DeviceTable


class DeviceListView(PolicyMixin, SingleTableMixin, FilterView):
    policy = READ_ADMINISTER
    model = Device
    table_class = DeviceTable
    filterset_class = DeviceFilter
    template_name = "devices/device_list.html"

    def get_queryset(self):
        return Device.objects.with_aggregated_status()
