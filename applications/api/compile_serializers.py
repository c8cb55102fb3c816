"""Model compiles over the REST API: what each is, and asking for INT8."""

from __future__ import annotations

from rest_framework import serializers

from applications.models import CompiledModel
from datasources.models import DataSource
from modelcompile.quantize import DEFAULT_THRESHOLD


class CompiledModelSerializer(serializers.ModelSerializer):
    asset = serializers.CharField(source="source.sha256", read_only=True)
    result = serializers.CharField(source="result.sha256", read_only=True, allow_null=True)

    class Meta:
        model = CompiledModel
        fields = [
            "id", "asset", "framework", "precision", "compiler_version", "status", "progress",
            "message", "result", "verification", "calibration", "threshold", "accuracy",
            "in_use", "created", "started", "finished",
        ]  # fmt: skip
        read_only_fields = [f for f in fields if f != "in_use"]


class Int8RequestSerializer(serializers.Serializer):
    asset = serializers.RegexField(
        r"^[0-9a-f]{64}$", help_text="The sha256 of a registered model asset."
    )
    data_source = serializers.SlugRelatedField(
        slug_field="name",
        queryset=DataSource.objects.all(),
        required=False,
        help_text="Calibrate on this camera's frames (a data source's name)…",
    )
    folder = serializers.CharField(
        required=False, help_text="…or on the images and videos of a folder in the media folders."
    )
    threshold = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        default=DEFAULT_THRESHOLD,
        help_text="The agreement with FP32 (0 to 1) below which the INT8 model is refused.",
    )

    def validate(self, attrs):
        if ("data_source" in attrs) == ("folder" in attrs):
            raise serializers.ValidationError(
                {"calibration": "Give data_source or folder to calibrate on (one of them)."}
            )
        return attrs
