from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

import modelcompile
from applications.assets import asset_quota_left
from console.accounts import lockout_problem
from console.api.serializers import (
    APITokenCreatedSerializer,
    APITokenSerializer,
    InstallationSerializer,
    UserSerializer,
)
from console.version import VERSION
from core.models import APIToken, Installation, User
from core.roles import ADMIN_ONLY, ANY_USER, Role
from manifests.descriptor import FRAMEWORKS


class InstallationView(APIView):
    """This installation's identity: the account ID used in package names."""

    policy = ANY_USER

    @extend_schema(responses=InstallationSerializer)
    def get(self, request):
        data = {
            "account_id": Installation.get().account_id,
            "version": VERSION,
            "console_url": settings.CONSOLE_URL,
            "model_compilers": {
                framework: {"available": reason is None, "reason": reason or ""}
                for framework in FRAMEWORKS
                if framework != "ONNX"  # runs as it is
                for reason in [modelcompile.framework_available(framework)]
            },
            "asset_max_bytes": settings.ASSET_MAX_MIB * 1024 * 1024 or None,
            "asset_quota_left_bytes": asset_quota_left(),
        }
        return Response(InstallationSerializer(data).data)


class UserViewSet(viewsets.ModelViewSet):
    policy = ADMIN_ONLY
    queryset = User.objects.order_by("username")
    serializer_class = UserSerializer
    filterset_fields = ["role", "is_active"]

    # The lockout check and the change it allows happen in one transaction (console/accounts.py).
    @transaction.atomic
    def update(self, request, *args, **kwargs):
        return super().update(request, *args, **kwargs)

    @transaction.atomic
    def destroy(self, request, *args, **kwargs):
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance: User) -> None:
        problem = lockout_problem(self.request.user, instance, role=Role.VIEWER, is_active=False)
        if problem:
            raise ValidationError({"detail": problem})
        instance.delete()


class APITokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """API tokens. The full token appears once, in the response that creates it."""

    policy = ADMIN_ONLY
    queryset = APIToken.objects.select_related("user")
    serializer_class = APITokenSerializer

    @extend_schema(request=APITokenSerializer, responses={201: APITokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = APITokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, text = APIToken.issue(created_by=request.user, **serializer.validated_data)
        token.token = text
        return Response(APITokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)
