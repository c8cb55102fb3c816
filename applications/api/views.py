from rest_framework import viewsets

from applications.api.serializers import ApplicationInstanceSerializer
from applications.models import ApplicationInstance
from console.roles import READ_OPERATE


class ApplicationInstanceViewSet(viewsets.ReadOnlyModelViewSet):
    """Application instances. Deploying and removing arrive with the deploy wizard."""

    policy = READ_OPERATE
    queryset = ApplicationInstance.objects.select_related("device")
    serializer_class = ApplicationInstanceSerializer
    filterset_fields = ["status", "health_status"]
    lookup_field = "application_instance_id"
