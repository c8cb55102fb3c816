from rest_framework import serializers

from devices.models import Device


class DeviceSerializer(serializers.ModelSerializer):
    aggregated_status = serializers.CharField(read_only=True)

    class Meta:
        model = Device
        fields = [
            "id",
            "device_id",
            "name",
            "description",
            "provisioning_status",
            "connection_status",
            "aggregated_status",
            "created",
            "updated",
        ]
        read_only_fields = fields
