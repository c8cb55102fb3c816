from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from datasources import hooks
from datasources.models import SAVED_AS_SECRET, DataSource, StreamCheck
from datasources.streams import normalize_stream_input


class StreamCheckSerializer(serializers.ModelSerializer):
    summary = serializers.CharField(read_only=True)
    device_id = serializers.CharField(
        source="device.device_id",
        read_only=True,
        allow_null=True,
        help_text="The appliance the test ran on (ran_on 'appliance'); null for the console or "
        "once the appliance was deleted.",
    )
    device_name = serializers.CharField(source="device.name", read_only=True, allow_null=True)
    tested_from = serializers.CharField(read_only=True)

    class Meta:
        model = StreamCheck
        fields = [
            "id", "status", "ran_on", "device_id", "device_name", "tested_from", "requested",
            "started", "finished", "codec", "width", "height", "fps", "first_frame_ms",
            "message", "hint", "summary",
        ]  # fmt: skip
        read_only_fields = fields


class StreamCheckRequestSerializer(serializers.Serializer):
    device_id = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=40,
        help_text="Run the test on this appliance (its device_id; it must be online). Absent, "
        "empty or null: on the console host.",
    )


class DataSourceSerializer(serializers.ModelSerializer):
    """A camera stream. Credentials are write-only; reads say only whether some are saved."""

    username = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=255
    )
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=255,
        style={"input_type": "password"},
        help_text="Stored encrypted; never returned. Omit on update to keep the saved one.",
    )
    clear_credentials = serializers.BooleanField(
        write_only=True,
        required=False,
        default=False,
        help_text="True removes the saved credentials. Empty or absent username/password keep "
        "the saved ones.",
    )
    credentials = serializers.SerializerMethodField(
        help_text=f"'{SAVED_AS_SECRET}' when credentials are saved, otherwise null."
    )
    is_test_source = serializers.BooleanField(read_only=True)
    last_check = StreamCheckSerializer(read_only=True, allow_null=True)
    used_by = serializers.SerializerMethodField(
        help_text="The application instances whose camera nodes use this stream."
    )

    @extend_schema_field(
        {"type": "array", "items": {"type": "object", "properties": {
            "application_instance_id": {"type": "string"}, "name": {"type": "string"},
            "device_id": {"type": "string"}}}}
    )  # fmt: skip
    def get_used_by(self, source) -> list[dict[str, str]]:
        return [
            {
                "application_instance_id": instance.application_instance_id,
                "name": instance.name,
                "device_id": instance.device.device_id,
            }
            for instance in hooks.used_by(source)
        ]

    class Meta:
        model = DataSource
        fields = [
            "id", "name", "description", "url", "username", "password", "clear_credentials",
            "credentials",
            "is_test_source", "last_check", "used_by", "created", "updated",
        ]  # fmt: skip
        read_only_fields = ["created", "updated"]

    def get_credentials(self, source: DataSource) -> str | None:
        return SAVED_AS_SECRET if source.has_credentials else None

    def validate_name(self, value: str) -> str:
        if self.instance is not None and value != self.instance.name:
            raise serializers.ValidationError(
                "The name cannot change: it is the name of the camera's node package."
            )
        return value

    def validate(self, attrs: dict) -> dict:
        if "url" in attrs:
            try:
                attrs["url"], username, password = normalize_stream_input(
                    attrs["url"], attrs.get("username", ""), attrs.get("password", "")
                )
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"url": exc.messages}) from None
            attrs["username"], attrs["password"] = username, password
        return attrs

    def _apply_credentials(self, source: DataSource, attrs: dict, previous_url: str) -> None:
        source.change_credentials(
            attrs.pop("username", ""),
            attrs.pop("password", ""),
            clear=attrs.pop("clear_credentials", False),
            previous_url=previous_url,
        )

    def create(self, validated_data: dict) -> DataSource:
        source = DataSource(url=validated_data["url"])
        self._apply_credentials(source, validated_data, previous_url="")
        for field, value in validated_data.items():
            setattr(source, field, value)
        source.full_clean()
        source.save()
        return source

    def update(self, source: DataSource, validated_data: dict) -> DataSource:
        previous_url = source.url
        source.url = validated_data.get("url", source.url)
        self._apply_credentials(source, validated_data, previous_url)
        return super().update(source, validated_data)
