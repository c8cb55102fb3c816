from rest_framework import serializers

from applications.models import Asset, NodeInterface, NodePackage, PatchVersion
from applications.models.packages import package_name_validator, package_version_validator


class NodeInterfaceSerializer(serializers.ModelSerializer):
    class Meta:
        model = NodeInterface
        fields = [
            "name",
            "category",
            "description",
            "asset_name",
            "inputs",
            "outputs",
            "inbound_ports",
        ]
        read_only_fields = fields


class PatchVersionSerializer(serializers.ModelSerializer):
    package = serializers.CharField(source="package_version.package.full_name", read_only=True)
    version = serializers.CharField(source="package_version.version", read_only=True)
    interfaces = NodeInterfaceSerializer(many=True, read_only=True)
    assets = serializers.SlugRelatedField(slug_field="sha256", many=True, read_only=True)

    class Meta:
        model = PatchVersion
        fields = [
            "id", "package", "version", "patch", "status", "status_description", "is_latest",
            "registered", "interfaces", "assets",
        ]  # fmt: skip
        read_only_fields = fields


class NodePackageSerializer(serializers.ModelSerializer):
    full_name = serializers.CharField(read_only=True)
    patches = serializers.SerializerMethodField()

    class Meta:
        model = NodePackage
        fields = ["id", "account_id", "name", "full_name", "description", "created", "patches"]
        read_only_fields = fields

    def get_patches(self, package: NodePackage) -> list[dict]:
        patches = PatchVersion.objects.filter(package_version__package=package).select_related(
            "package_version__package"
        )
        return PatchVersionSerializer(
            patches.prefetch_related("interfaces", "assets"), many=True
        ).data


class RegisterPatchSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=128,
        validators=[package_name_validator],
        help_text="The package name, without the account.",
    )
    version = serializers.CharField(
        max_length=20, validators=[package_version_validator], help_text="<major>.<minor>, e.g. 1.0"
    )
    manifest = serializers.CharField(
        help_text="The package.json text, exactly as stored: its sha256 becomes the patch version.",
        trim_whitespace=False,
    )
    mark_latest = serializers.BooleanField(default=True)


class AssetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Asset
        fields = ["sha256", "size", "created"]
        read_only_fields = fields


class AssetLimitSerializer(serializers.Serializer):
    """Why an upload was refused for its size (413)."""

    detail = serializers.CharField(help_text="Which limit, and its setting.")
    limit_bytes = serializers.IntegerField(help_text="The most bytes this upload could have had.")


class DeregisterPatchSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=20)
    patch = serializers.RegexField(r"^[0-9a-f]{64}$", help_text="The patch version (sha256).")


class NodeSerializer(serializers.ModelSerializer):
    """A node as ListNodes shows it: one interface of one patch version."""

    node_id = serializers.SerializerMethodField()
    package = serializers.CharField(source="patch.package_version.package.full_name")
    package_version = serializers.CharField(source="patch.package_version.version")
    patch_version = serializers.CharField(source="patch.patch")
    is_latest = serializers.BooleanField(source="patch.is_latest")

    class Meta:
        model = NodeInterface
        fields = [
            "id", "node_id", "name", "category", "package", "package_version", "patch_version",
            "is_latest", "description", "inputs", "outputs", "inbound_ports",
        ]  # fmt: skip
        read_only_fields = fields

    def get_node_id(self, node: NodeInterface) -> str:
        # Panorama's form: <PackageName>-<PackageVersion>-<first 8 hex of patch>-<interface>
        version = node.patch.package_version
        return f"{version.package.name}-{version.version}-{node.patch.patch[:8]}-{node.name}"
