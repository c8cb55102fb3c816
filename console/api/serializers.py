from django.contrib.auth import password_validation
from rest_framework import serializers

from console.accounts import lockout_problem
from core.models import APIToken, User
from core.roles import Role


class UserSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.choices)
    effective_role = serializers.CharField(read_only=True)
    password = serializers.CharField(
        write_only=True,
        required=False,
        style={"input_type": "password"},
        help_text="Sets the password; omitted, the user cannot sign in until one is set.",
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "email",
            "role",
            "effective_role",
            "is_active",
            "last_login",
            "date_joined",
            "password",
        ]
        read_only_fields = ["last_login", "date_joined"]

    def validate_password(self, value: str) -> str:
        password_validation.validate_password(value)
        return value

    def create(self, validated_data: dict) -> User:
        password = validated_data.pop("password", None)
        user = User(**validated_data)
        user.set_password(password) if password else user.set_unusable_password()
        user.save()
        return user

    def validate(self, attrs: dict) -> dict:
        if self.instance is not None:
            problem = lockout_problem(
                self.context["request"].user,
                self.instance,
                role=attrs.get("role", self.instance.role),
                is_active=attrs.get("is_active", self.instance.is_active),
            )
            if problem:
                raise serializers.ValidationError(problem)
        return attrs

    def update(self, instance: User, validated_data: dict) -> User:
        password = validated_data.pop("password", None)
        if password:
            instance.set_password(password)
        return super().update(instance, validated_data)


class APITokenSerializer(serializers.ModelSerializer):
    """Tokens as listed: never the secret nor its hash."""

    user = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True)
    )
    prefix = serializers.CharField(source="display_prefix", read_only=True)

    class Meta:
        model = APIToken
        fields = ["id", "name", "user", "prefix", "read_only", "expires", "created", "last_used"]
        read_only_fields = ["created", "last_used"]


class APITokenCreatedSerializer(APITokenSerializer):
    token = serializers.CharField(
        read_only=True, help_text="The full token. Shown only in this response."
    )

    class Meta(APITokenSerializer.Meta):
        fields = [*APITokenSerializer.Meta.fields, "token"]


class ModelCompilerSerializer(serializers.Serializer):
    available = serializers.BooleanField()
    reason = serializers.CharField(help_text="What to install, when it is not available.")


class InstallationSerializer(serializers.Serializer):
    account_id = serializers.CharField()
    version = serializers.CharField()
    console_url = serializers.CharField()
    model_compilers = serializers.DictField(
        child=ModelCompilerSerializer(),
        help_text="By framework (PYTORCH, TENSORFLOW, MXNET): whether this console compiles "
        "such models to ONNX.",
    )
    asset_max_bytes = serializers.IntegerField(
        allow_null=True,
        help_text="The largest asset an upload may have (ASSET_MAX_MIB); null: no limit. "
        "vantage-cli checks it before uploading.",
    )
    asset_quota_left_bytes = serializers.IntegerField(
        allow_null=True,
        help_text="What the asset store has left of its quota (ASSET_QUOTA_GIB); null: no quota.",
    )
