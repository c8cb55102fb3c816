from rest_framework import serializers

from applications.models import ApplicationInstance


class ApplicationInstanceSerializer(serializers.ModelSerializer):
    device = serializers.SlugRelatedField(slug_field="device_id", read_only=True)

    class Meta:
        model = ApplicationInstance
        fields = [
            "id",
            "application_instance_id",
            "name",
            "description",
            "device",
            "status",
            "health_status",
            "status_description",
            "created",
            "updated",
        ]
        read_only_fields = fields
