from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from core.roles import READ_OPERATE
from datasources import hooks
from datasources.api.serializers import (
    DataSourceSerializer,
    StreamCheckRequestSerializer,
    StreamCheckSerializer,
)
from datasources.checks import CheckRefused, check_place, start_check, with_latest_check
from datasources.models import DataSource


class DataSourceViewSet(viewsets.ModelViewSet):
    """Camera streams (RTSP) and recorded test sources (file://)."""

    policy = READ_OPERATE
    queryset = hooks.with_users(with_latest_check(DataSource.objects.all()))
    serializer_class = DataSourceSerializer
    filterset_fields = ["name"]

    @transaction.atomic
    def perform_create(self, serializer) -> None:
        hooks.saved(serializer.save(), self.request.user)

    @transaction.atomic
    def perform_update(self, serializer) -> None:
        hooks.saved(serializer.save(), self.request.user)

    @transaction.atomic
    def perform_destroy(self, instance: DataSource) -> None:
        hooks.deleted(instance)
        instance.delete()

    @extend_schema(request=StreamCheckRequestSerializer, responses={202: StreamCheckSerializer})
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None, format=None):
        """Test the stream from the console host, or from an online appliance (``device_id``);
        poll the data source for ``last_check``."""
        source = self.get_object()
        wanted = StreamCheckRequestSerializer(data=request.data)
        wanted.is_valid(raise_exception=True)
        try:
            device = check_place(wanted.validated_data.get("device_id"))
        except CheckRefused as refused:
            raise ValidationError({"device_id": [str(refused)]}) from None
        try:
            check = start_check(source, request.user, device)
        except CheckRefused as refused:
            return Response({"detail": str(refused)}, status=status.HTTP_409_CONFLICT)
        return Response(StreamCheckSerializer(check).data, status=status.HTTP_202_ACCEPTED)
