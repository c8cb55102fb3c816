from rest_framework import viewsets

from console.roles import READ_OPERATE
from datasources.api.serializers import DataSourceSerializer
from datasources.models import DataSource


class DataSourceViewSet(viewsets.ModelViewSet):
    """Camera streams (RTSP) and recorded test sources (file://)."""

    policy = READ_OPERATE
    queryset = DataSource.objects.all()
    serializer_class = DataSourceSerializer
    filterset_fields = ["name"]
