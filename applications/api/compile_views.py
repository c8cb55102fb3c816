"""Model compiles: list them, ask for a model in INT8, choose FP32 or INT8 for deployments."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from applications import compiles
from applications.api.compile_serializers import CompiledModelSerializer, Int8RequestSerializer
from applications.calibration import CalibrationError, check_folder
from applications.models import CompiledModel, PatchVersion
from applications.tasks import start_compile
from core.models import Installation
from core.roles import READ_OPERATE
from core.status import ModelCompileStatus as CompileStatus


class CompiledModelViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Compiles of this installation's model assets to ONNX (and INT8, when asked for)."""

    policy = READ_OPERATE
    serializer_class = CompiledModelSerializer
    filterset_fields = ["status", "precision", "framework"]
    http_method_names = ["get", "post", "patch", "head", "options"]
    queryset = CompiledModel.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CompiledModel.objects.none()
        account = Installation.get().account_id
        queryset = CompiledModel.objects.filter(
            source__patches__package_version__package__account_id=account
        ).distinct()
        asset = self.request.query_params.get("asset")
        if asset:
            queryset = queryset.filter(source__sha256=asset)
        return queryset.select_related("source", "result")

    @extend_schema(request=Int8RequestSerializer, responses={202: CompiledModelSerializer})
    def create(self, request, *args, **kwargs):
        """Compile a model asset to INT8: calibrated on a camera's or a folder's frames, checked
        against FP32 and refused below ``threshold``. Deployments use it once it succeeds."""
        asked = Int8RequestSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        data = asked.validated_data
        found = self._model(data["asset"])
        if "folder" in data:
            try:
                calibration = {"folder": str(check_folder(data["folder"]))}
            except CalibrationError as exc:
                raise ValidationError({"folder": [str(exc)]}) from None
        else:
            calibration = {"data_source": data["data_source"].pk, "name": data["data_source"].name}
        source, descriptor = found
        try:
            compiled = compiles.request_int8(source, descriptor, calibration, data["threshold"])
        except compiles.Int8Refused as refused:
            raise ValidationError({"asset": [str(refused)]}) from None
        start_compile(compiled)
        return Response(self.get_serializer(compiled).data, status=status.HTTP_202_ACCEPTED)

    def perform_update(self, serializer):
        compiled = serializer.instance
        wanted = serializer.validated_data.get("in_use", compiled.in_use)
        if wanted and (compiled.precision != "INT8" or compiled.status != CompileStatus.SUCCEEDED):
            raise ValidationError(
                {"in_use": ["Only an INT8 compile that succeeded can be used by deployments."]}
            )
        serializer.save()

    def _model(self, sha256: str):
        account = Installation.get().account_id
        patches = PatchVersion.objects.filter(
            assets__sha256=sha256, package_version__package__account_id=account
        )
        for patch in patches:
            for source, descriptor in compiles.model_assets(patch):
                if source.sha256 == sha256:
                    return source, descriptor
        raise ValidationError({"asset": [f"No registered model asset has the sha256 {sha256}."]})
