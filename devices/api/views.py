"""Appliances over the API: devices (ProvisionDevice, archives, delete), jobs, software images."""

from __future__ import annotations

import base64

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Count, Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from core.errors import QuotaExceeded
from core.parsers import FormBodyParser, JSONBodyParser, MultiPartBodyParser
from core.roles import READ_ADMINISTER, READ_OPERATE
from core.status import JobType, UpdateProgress
from devices import live
from devices.api.serializers import (
    ArchiveSerializer,
    DeviceCreateSerializer,
    DeviceJobCreateSerializer,
    DeviceJobSerializer,
    DeviceSerializer,
    DeviceUpdateSerializer,
    ProvisionedDeviceSerializer,
    SoftwareImageSerializer,
    SoftwareImageUploadSerializer,
)
from devices.deletion import delete_device
from devices.filters import DeviceFilter
from devices.jobs import JobRefused, create_jobs
from devices.models import Device, DeviceJob, DeviceJobEvent, SoftwareImage
from devices.provisioning import archive_filename, create_device, issue_archive
from devices.software import add_image, delete_image


def _detail(exc: DjangoValidationError) -> dict:
    """A Django ValidationError as DRF's error body: per field, or ``detail``."""
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for e in errors for m in e.messages]
                for field, errors in exc.error_dict.items()}  # fmt: skip
    return {"detail": " ".join(exc.messages)}


def _archive_fields(device: Device) -> dict:
    data, credential = issue_archive(device)
    return {
        "archive_name": archive_filename(device),
        "certificates": base64.b64encode(data).decode(),
        "credential_id": credential.credential_id,
        "expires_at": credential.expires_at,
    }


class DeviceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Appliances. Viewers read; administrators provision, edit description and tags, delete."""

    policy = READ_ADMINISTER
    serializer_class = DeviceSerializer
    filterset_class = DeviceFilter
    lookup_field = "device_id"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    queryset = Device.objects.with_aggregated_status().annotate(
        application_count=Count("application_instances")
    )

    def get_serializer_context(self):
        return {
            **super().get_serializer_context(),
            "latest_software": SoftwareImage.objects.newest(),
        }

    def _read(self, device: Device, serializer=DeviceSerializer, **extra) -> dict:
        fresh = self.get_queryset().get(pk=device.pk)
        for name, value in extra.items():
            setattr(fresh, name, value)
        return serializer(fresh, context=self.get_serializer_context()).data

    @extend_schema(request=DeviceCreateSerializer, responses={201: ProvisionedDeviceSerializer})
    def create(self, request, *args, **kwargs):
        """Create a device and its first configuration archive (base64 ``certificates``).

        400 when the name is taken or the installation holds DEVICE_QUOTA devices.
        """
        body = DeviceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                device = create_device(
                    name=body.validated_data["name"],
                    description=body.validated_data.get("description", ""),
                    tags=body.validated_data.get("tags") or {},
                    network=body.validated_data.get("networking") or {},
                )
                archive = _archive_fields(device)
        except QuotaExceeded as exceeded:
            return Response({"detail": exceeded.message}, status=status.HTTP_400_BAD_REQUEST)
        except DjangoValidationError as exc:
            return Response(_detail(exc), status=status.HTTP_400_BAD_REQUEST)
        live.device_updated(device, ["status"])
        data = self._read(device, ProvisionedDeviceSerializer, **archive)
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DeviceUpdateSerializer, responses=DeviceSerializer)
    def partial_update(self, request, *args, **kwargs):
        """Change the description and tags (tags are replaced as a whole). The name is fixed."""
        device = self.get_object()
        body = DeviceUpdateSerializer(device, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        fields = [name for name in ("description", "tags") if name in body.validated_data]
        for name in fields:
            setattr(device, name, body.validated_data[name])
        if fields:
            device.save(update_fields=[*fields, "updated"])
            live.device_updated(device, ["details"])
        return Response(self._read(device))

    def destroy(self, request, *args, **kwargs):
        """Delete the device from the console; the appliance is told its credentials are revoked."""
        delete_device(self.get_object(), request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={201: ArchiveSerializer})
    @action(detail=True, methods=["post"])
    def archive(self, request, device_id=None, format=None):
        """A new configuration archive; earlier unused ones stop working."""
        device = self.get_object()
        try:
            archive = _archive_fields(device)
        except DjangoValidationError as exc:
            return Response(_detail(exc), status=status.HTTP_400_BAD_REQUEST)
        live.device_updated(device, ["status"])
        return Response(ArchiveSerializer(archive).data, status=status.HTTP_201_CREATED)


class DeviceJobFilter(django_filters.FilterSet):
    device = django_filters.CharFilter(field_name="device__device_id", label="Device ID")
    status = django_filters.ChoiceFilter(choices=UpdateProgress.choices)
    job_type = django_filters.ChoiceFilter(choices=JobType.choices)

    class Meta:
        model = DeviceJob
        fields = ["device", "status", "job_type"]


class DeviceJobViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Device jobs (reboot, software update) with their status history. Operators create them."""

    policy = READ_OPERATE
    serializer_class = DeviceJobSerializer
    filterset_class = DeviceJobFilter
    lookup_field = "job_id"
    queryset = DeviceJob.objects.select_related("device", "created_by").prefetch_related(
        Prefetch("events", queryset=DeviceJobEvent.objects.order_by("time", "id"))
    )

    @extend_schema(
        request=DeviceJobCreateSerializer, responses={201: DeviceJobSerializer(many=True)}
    )
    def create(self, request, *args, **kwargs):
        """One job per device, all or none: 400 lists every device that cannot take it."""
        body = DeviceJobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            jobs = create_jobs(
                data["device_ids"],
                data["job_type"],
                image_version=data.get("image_version") or None,
                allow_major_version_update=data["allow_major_version_update"],
                user=request.user,
            )
        except JobRefused as exc:
            return Response({"detail": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
        created = self.get_queryset().filter(pk__in=[job.pk for job in jobs])
        return Response(
            DeviceJobSerializer(created, many=True).data, status=status.HTTP_201_CREATED
        )


class SoftwareImageViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Agent software images. Administrators upload (multipart) and delete them."""

    policy = READ_ADMINISTER
    serializer_class = SoftwareImageSerializer
    lookup_field = "version"
    lookup_value_regex = r"[^/]+"  # versions hold dots
    queryset = SoftwareImage.objects.select_related("uploaded_by")
    parser_classes = [MultiPartBodyParser, FormBodyParser, JSONBodyParser]

    @extend_schema(request=SoftwareImageUploadSerializer, responses={201: SoftwareImageSerializer})
    def create(self, request, *args, **kwargs):
        """Upload a release bundle: checked, signed with the release key and stored."""
        body = SoftwareImageUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            image = add_image(
                data["file"],
                data.get("version", ""),
                data.get("notes", ""),
                data["required"],
                request.user,
            )
        except DjangoValidationError as exc:
            return Response(_detail(exc), status=status.HTTP_400_BAD_REQUEST)
        return Response(SoftwareImageSerializer(image).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        """Delete an image; 409 while an unfinished update installs it."""
        try:
            delete_image(self.get_object())
        except DjangoValidationError as exc:
            return Response({"detail": " ".join(exc.messages)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)
