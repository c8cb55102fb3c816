"""Node packages: ``<account>::<name>`` at ``<major>.<minor>``, with registered patch versions.

A patch version is the sha256 of its package.json bytes (spec §1): the same bytes always give
the same patch, so registering is idempotent. Assets are content-addressed and shared by every
patch that names them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from core.ids import new_package_id
from core.status import (
    NodeCategory,
    NodeFromTemplateJobStatus,
    PackageImportJobStatus,
    PackageImportJobType,
    PackageVersionStatus,
    TemplateType,
)

package_name_validator = RegexValidator(
    r"^[a-zA-Z0-9_-]{1,128}$",
    "Use 1 to 128 letters, digits, '_' and '-'.",
    code="invalid_package_name",
)
package_version_validator = RegexValidator(
    r"^[0-9]+\.[0-9]+$", "Use <major>.<minor>, e.g. 1.0.", code="invalid_package_version"
)
sha256_validator = RegexValidator(r"^[0-9a-f]{64}$", "A sha256 is 64 lowercase hex digits.")


class NodePackage(models.Model):
    # Panorama's PackageId (``package-<26 base32>``), in the API and the package's ARN.
    package_id = models.CharField(
        max_length=40, unique=True, default=new_package_id, editable=False
    )
    account_id = models.CharField(max_length=12)
    name = models.CharField(max_length=128, validators=[package_name_validator])
    description = models.CharField(max_length=255, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account_id", "name"], name="unique_package_name")
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.account_id}::{self.name}"


class PackageVersion(models.Model):
    package = models.ForeignKey(NodePackage, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=20, validators=[package_version_validator])
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["package__name", "version"]
        constraints = [
            models.UniqueConstraint(fields=["package", "version"], name="unique_package_version")
        ]

    def __str__(self) -> str:
        return f"{self.package.full_name} {self.version}"


class Asset(models.Model):
    """A file in the asset store, named by the sha256 of its content."""

    sha256 = models.CharField(max_length=64, unique=True, validators=[sha256_validator])
    size = models.BigIntegerField()
    storage_name = models.CharField(max_length=300, help_text="Its name in the asset store.")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.sha256


class PatchVersion(models.Model):
    package_version = models.ForeignKey(
        PackageVersion, on_delete=models.CASCADE, related_name="patches"
    )
    patch = models.CharField(max_length=64, validators=[sha256_validator])
    status = models.CharField(
        max_length=24,
        choices=PackageVersionStatus.choices,
        default=PackageVersionStatus.REGISTER_PENDING,
    )
    status_description = models.CharField(max_length=255, blank=True)
    is_latest = models.BooleanField(default=False)
    registered = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    # The package.json text, byte for byte (its sha256 is the patch), except for a camera
    # package's credentials: those are replaced by SAVED_AS_SECRET and kept encrypted with the
    # interface (NodeInterface.stream_*_encrypted).
    manifest_text = models.TextField()
    assets = models.ManyToManyField(Asset, through="PatchAsset", related_name="patches")

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(fields=["package_version", "patch"], name="unique_patch"),
            models.UniqueConstraint(
                fields=["package_version"],
                condition=models.Q(is_latest=True),
                name="one_latest_patch",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.package_version} {self.patch[:8]}"


class PatchAsset(models.Model):
    """An asset as a patch names it in its package.json (``assets[].name``)."""

    patch = models.ForeignKey(PatchVersion, on_delete=models.CASCADE)
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT)
    name = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patch", "name", "asset"], name="unique_patch_asset")
        ]

    def __str__(self) -> str:
        return f"{self.name} = {self.asset_id}"


class NodeInterface(models.Model):
    """A node: one interface of a patch version, with its ports."""

    # A camera package's own credentials (its username and password defaults, or those typed
    # into its streamUrl): ``inputs`` and the patch's text hold SAVED_AS_SECRET in their place.
    encrypted_fields = ("stream_username_encrypted", "stream_password_encrypted")

    patch = models.ForeignKey(PatchVersion, on_delete=models.CASCADE, related_name="interfaces")
    name = models.CharField(max_length=128)
    category = models.CharField(max_length=20, choices=NodeCategory.choices)
    description = models.CharField(max_length=255, blank=True)
    asset_name = models.CharField(max_length=255, blank=True)
    inputs = models.JSONField(default=list)
    outputs = models.JSONField(default=list)
    inbound_ports = models.JSONField(default=list)
    stream_username_encrypted = models.TextField(blank=True, editable=False)
    stream_password_encrypted = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["patch", "name"], name="unique_interface_name")
        ]

    def __str__(self) -> str:
        return f"{self.patch.package_version.package.full_name}.{self.name}"


class NodeFromTemplateJob(models.Model):
    """CreateNodeFromTemplateJob: a package made from a template (a camera, for now)."""

    job_id = models.UUIDField(unique=True)
    template_type = models.CharField(
        max_length=32, choices=TemplateType.choices, default=TemplateType.RTSP_CAMERA_STREAM
    )
    output_package_name = models.CharField(max_length=128)
    output_package_version = models.CharField(max_length=20, default="1.0")
    node_name = models.CharField(max_length=128)
    node_description = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=16,
        choices=NodeFromTemplateJobStatus.choices,
        default=NodeFromTemplateJobStatus.PENDING,
    )
    status_message = models.CharField(max_length=255, blank=True)
    patch = models.ForeignKey(
        PatchVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    data_source = models.ForeignKey(
        "datasources.DataSource",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="template_jobs",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # JobTags as the API received them: [{"ResourceType": "PACKAGE", "Tags": {...}}].
    job_tags = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.template_type} {self.output_package_name} ({self.status})"


class PackageImportJob(models.Model):
    """CreatePackageImportJob: a package.json read from the S3 asset store and registered."""

    job_id = models.UUIDField(unique=True)
    client_token = models.CharField(max_length=64, unique=True)
    job_type = models.CharField(
        max_length=40,
        choices=PackageImportJobType.choices,
        default=PackageImportJobType.NODE_PACKAGE_VERSION,
    )
    # InputConfig, OutputConfig and JobTags as the API received them (Describe returns them).
    input_config = models.JSONField(default=dict)
    output_config = models.JSONField(default=dict)
    job_tags = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=16,
        choices=PackageImportJobStatus.choices,
        default=PackageImportJobStatus.PENDING,
    )
    status_message = models.CharField(max_length=1000, blank=True)
    patch = models.ForeignKey(
        PatchVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Where the registered package.json is kept in the asset store: {"BucketName", "ObjectKey"}.
    output_location = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.job_type} {self.job_id} ({self.status})"
