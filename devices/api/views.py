from rest_framework import viewsets

from console.roles import READ_ADMINISTER
from devices.api.serializers import DeviceSerializer
from devices.filters import DeviceFilter
from devices.models import Device


class DeviceViewSet(viewsets.ReadOnlyModelViewSet):
    """Appliances. Provisioning and deletion arrive with the setup wizard."""

    policy = READ_ADMINISTER
    queryset = Device.objects.with_aggregated_status()
    serializer_class = DeviceSerializer
    filterset_class = DeviceFilter
    lookup_field = "device_id"
