"""Packages, patch versions and assets over the REST API."""

from __future__ import annotations

import re

import django_filters
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from applications.api.package_serializers import (
    AssetLimitSerializer,
    AssetSerializer,
    DeregisterPatchSerializer,
    NodePackageSerializer,
    NodeSerializer,
    PatchVersionSerializer,
    RegisterPatchSerializer,
)
from applications.assets import (
    AssetHashMismatch,
    AssetTooLarge,
    open_asset,
    store_asset,
    upload_limit,
)
from applications.models import Asset, NodeInterface, NodePackage, PatchVersion
from applications.registry import (
    PackageRejected,
    PatchInUse,
    delete_package,
    deregister_patch,
    register_patch,
)
from core.models import Installation
from core.roles import READ_OPERATE
from core.status import NodeCategory
from core.storage import asset_storage

SHA256 = re.compile(r"^[0-9a-f]{64}$")


class NodePackageViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Node packages of this installation, with every patch version and its nodes."""

    policy = READ_OPERATE
    serializer_class = NodePackageSerializer
    filterset_fields = ["name"]

    queryset = NodePackage.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no database
            return NodePackage.objects.none()
        return NodePackage.objects.filter(account_id=Installation.get().account_id)

    def destroy(self, request, *args, **kwargs):
        """Delete the package and all its patch versions; 409 while an instance uses it."""
        try:
            delete_package(self.get_object())
        except PatchInUse as in_use:
            return Response({"detail": str(in_use)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=RegisterPatchSerializer, responses={201: PatchVersionSerializer})
    @action(detail=False, methods=["post"])
    def register(self, request, format=None):
        """Register a package.json as a patch version (idempotent: same bytes, same patch)."""
        body = RegisterPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            registered = register_patch(
                account_id=Installation.get().account_id,
                name=body.validated_data["name"],
                version=body.validated_data["version"],
                manifest_bytes=body.validated_data["manifest"].encode(),
                mark_latest=body.validated_data["mark_latest"],
            )
        except PackageRejected as rejected:
            return Response(
                {"errors": [error.to_dict() for error in rejected.errors]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(
            PatchVersionSerializer(registered.patch).data,
            status=status.HTTP_201_CREATED if registered.created else status.HTTP_200_OK,
        )

    @extend_schema(request=DeregisterPatchSerializer, responses={204: None})
    @action(detail=True, methods=["post"])
    def deregister(self, request, pk=None, format=None):
        """Deregister one patch version of this package (refused while it is in use)."""
        body = DeregisterPatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        patch = get_object_or_404(
            PatchVersion,
            package_version__package=self.get_object(),
            package_version__version=body.validated_data["version"],
            patch=body.validated_data["patch"],
        )
        try:
            deregister_patch(patch)
        except PatchInUse as in_use:
            return Response({"detail": str(in_use)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssetView(APIView):
    """``PUT`` the raw bytes of an asset under its sha256; ``GET`` them back."""

    policy = READ_OPERATE

    def _sha(self, sha256: str) -> str:
        if not SHA256.match(sha256):
            raise ValidationError({"sha256": "A sha256 is 64 lowercase hex digits."})
        return sha256

    @extend_schema(
        request={"application/octet-stream": bytes},
        responses={201: AssetSerializer, 200: AssetSerializer, 413: AssetLimitSerializer},
        parameters=[OpenApiParameter("filename", str, description="Named in error messages.")],
    )
    def put(self, request, sha256: str, format=None):
        """Upload an asset; refused (and nothing stored) unless its bytes hash to ``sha256``."""
        filename = request.query_params.get("filename", sha256)
        sha256 = self._sha(sha256)
        # In front of Django (console/asgi.py) a body over the limit is refused before it is
        # read; here again for any other server, and as the bytes are read.
        limit = upload_limit(sha256)
        announced = request.META.get("CONTENT_LENGTH") or ""
        try:
            if limit is not None and announced.isdigit() and int(announced) > limit[0]:
                raise AssetTooLarge(limit)
            stored = store_asset(
                request._request, filename=filename, expected_sha256=sha256, limit=limit
            )
        except AssetTooLarge as refused:
            return Response(
                {"detail": str(refused), "limit_bytes": refused.limit_bytes},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        except AssetHashMismatch as mismatch:
            return Response(
                {"detail": str(mismatch), "expected": mismatch.expected, "actual": mismatch.actual},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(
            AssetSerializer(stored.asset).data,
            status=status.HTTP_201_CREATED if stored.created else status.HTTP_200_OK,
        )

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, sha256: str, format=None):
        asset = get_object_or_404(Asset, sha256=self._sha(sha256))
        return FileResponse(open_asset(asset), as_attachment=True, filename=asset.sha256)

    @extend_schema(responses={200: AssetSerializer})
    def head(self, request, sha256: str, format=None):
        """Whether the store has an asset (the CLI skips uploading what is there)."""
        asset = get_object_or_404(Asset, sha256=self._sha(sha256))
        if not asset_storage().exists(asset.storage_name):  # the row outlived the file
            raise Http404("The asset's file is missing from the store; upload it again.")
        return Response(AssetSerializer(asset).data)


class NodeFilter(django_filters.FilterSet):
    category = django_filters.ChoiceFilter(choices=NodeCategory.choices)
    package = django_filters.CharFilter(field_name="patch__package_version__package__name")
    latest = django_filters.BooleanFilter(field_name="patch__is_latest")

    class Meta:
        model = NodeInterface
        fields = ["category", "package", "latest"]


class NodeViewSet(viewsets.ReadOnlyModelViewSet):
    """Nodes: the interfaces of registered patch versions (ListNodes / DescribeNode)."""

    policy = READ_OPERATE
    serializer_class = NodeSerializer
    filterset_class = NodeFilter
    queryset = NodeInterface.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return NodeInterface.objects.none()
        return NodeInterface.objects.filter(
            patch__package_version__package__account_id=Installation.get().account_id
        ).select_related("patch__package_version__package")
