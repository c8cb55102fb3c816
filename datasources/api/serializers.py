from urllib.parse import urlsplit

from rest_framework import serializers

from datasources.models import DataSource

ALLOWED_SCHEMES = ("rtsp", "rtsps", "file")


class DataSourceSerializer(serializers.ModelSerializer):
    is_test_source = serializers.BooleanField(read_only=True)

    class Meta:
        model = DataSource
        fields = ["id", "name", "description", "url", "is_test_source", "created", "updated"]
        read_only_fields = ["created", "updated"]

    def validate_url(self, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ALLOWED_SCHEMES:
            raise serializers.ValidationError(
                f"Scheme {parts.scheme or '(none)'!r} is not allowed; use rtsp://, rtsps:// or file://."
            )
        if parts.username or parts.password:
            raise serializers.ValidationError(
                "Remove user:password@ from the URL; stream credentials are not stored yet."
            )
        return value
