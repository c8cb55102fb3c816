from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from applications import deployments
from applications.api.serializers import (
    ApplicationInstanceSerializer,
    DeploySerializer,
    NodeSignalsSerializer,
)
from applications.filters import ApplicationInstanceFilter
from applications.models import ApplicationInstance
from applications.resolve import DeployRefused
from core.errors import QuotaExceeded, ServiceUnavailable, SignalRefused
from core.roles import READ_OPERATE


class Unavailable(APIException):
    """503 with Retry-After (DRF's handler sends ``wait`` as that header): nothing was saved."""

    status_code = 503
    default_code = "service_unavailable"

    def __init__(self, error: ServiceUnavailable) -> None:
        super().__init__(error.message)
        self.wait = error.retry_after_s


class ApplicationInstanceViewSet(
    mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.ReadOnlyModelViewSet
):
    """Application instances: deploy (POST), follow, remove (DELETE), pause and resume camera
    nodes (POST …/node-signals/)."""

    policy = READ_OPERATE
    queryset = ApplicationInstance.objects.select_related(
        "device", "runtime_role", "replaces"
    ).prefetch_related("node_instances", "events")
    serializer_class = ApplicationInstanceSerializer
    # As ListApplicationInstances: ``device`` (its device id), ``status`` (a StatusFilter value,
    # PROCESSING_DEPLOYMENT and PROCESSING_REMOVAL included), and ``health_status``.
    filterset_class = ApplicationInstanceFilter
    lookup_field = "application_instance_id"

    @extend_schema(
        request=DeploySerializer,
        responses={
            201: ApplicationInstanceSerializer,
            503: OpenApiResponse(
                description="The task queue (Redis) is down: nothing was saved; try again after "
                "the Retry-After header's seconds."
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        form = DeploySerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            instance = deployments.request_deployment(
                name=data["name"],
                description=data.get("description", ""),
                device=data["device"],
                manifest_text=data["manifest_payload"],
                overrides_text=data.get("manifest_overrides_payload", ""),
                runtime_role=data.get("runtime_role"),
                replaces=data.get("replaces"),
                tags=data.get("tags"),
                user=request.user,
                memory_limit_mib=data.get("memory_limit_mib"),
                cpu_limit=data.get("cpu_limit"),
            )
        except DeployRefused as refused:
            raise ValidationError(
                {"errors": [error.to_dict() for error in refused.errors]}
            ) from None
        except QuotaExceeded as exceeded:
            return Response(
                {"detail": exceeded.message, "quota": exceeded.quota},
                status=status.HTTP_402_PAYMENT_REQUIRED,
            )
        except ServiceUnavailable as unavailable:
            raise Unavailable(unavailable) from None
        return Response(
            ApplicationInstanceSerializer(instance).data, status=status.HTTP_201_CREATED
        )

    def destroy(self, request, *args, **kwargs):
        instance = self.get_object()
        deployments.remove(instance)
        return Response(
            ApplicationInstanceSerializer(instance).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(request=NodeSignalsSerializer, responses={202: ApplicationInstanceSerializer})
    @action(detail=True, methods=["post"], url_path="node-signals")
    def node_signals(self, request, *args, **kwargs):
        instance = self.get_object()
        form = NodeSignalsSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        signals = [
            (s["node_instance_id"], s["signal"]) for s in form.validated_data["node_signals"]
        ]
        try:
            with transaction.atomic():
                deployments.signal_nodes(instance, signals)
        except SignalRefused as exc:
            raise ValidationError({"node_signals": [str(exc)]}) from None
        instance.refresh_from_db()
        return Response(
            ApplicationInstanceSerializer(instance).data, status=status.HTTP_202_ACCEPTED
        )
