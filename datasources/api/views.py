from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from console.roles import READ_OPERATE
from datasources.api.serializers import DataSourceSerializer, StreamCheckSerializer
from datasources.checks import start_check, with_latest_check
from datasources.models import DataSource
from datasources.packages import delete_camera_package, register_camera_package


class DataSourceViewSet(viewsets.ModelViewSet):
    """Camera streams (RTSP) and recorded test sources (file://)."""

    policy = READ_OPERATE
    queryset = with_latest_check(DataSource.objects.all())
    serializer_class = DataSourceSerializer
    filterset_fields = ["name"]

    @transaction.atomic
    def perform_create(self, serializer) -> None:
        register_camera_package(serializer.save(), self.request.user)

    @transaction.atomic
    def perform_update(self, serializer) -> None:
        register_camera_package(serializer.save(), self.request.user)

    @transaction.atomic
    def perform_destroy(self, instance: DataSource) -> None:
        delete_camera_package(instance)
        instance.delete()

    @extend_schema(request=None, responses={202: StreamCheckSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None, format=None):
        """Test the stream from the console host; poll the data source for ``last_check``."""
        check = start_check(self.get_object(), request.user)
        return Response(StreamCheckSerializer(check).data, status=status.HTTP_202_ACCEPTED)
