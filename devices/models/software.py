"""Agent software images (release bundles), checked and signed when administrators upload them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from devicelink.releases import parse_version


class SoftwareImageQuerySet(models.QuerySet):
    def newest(self) -> SoftwareImage | None:
        """The newest software image by version (not by upload time)."""
        return self.order_by("-major", "-minor", "-patch").first()

    def newer_than(self, current: str) -> list[SoftwareImage]:
        """The images newer than ``current``, newest first (all of them if ``current`` is
        unknown)."""
        images = list(self.order_by("-major", "-minor", "-patch"))
        try:
            installed = parse_version(current)
        except ValueError:
            return images
        return [image for image in images if image.version_tuple > installed]


class SoftwareImage(models.Model):
    version = models.CharField(max_length=20, unique=True)
    # The version as numbers, so that "latest" sorts 1.10.0 after 1.9.0 in SQL too.
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    patch = models.PositiveIntegerField()
    notes = models.TextField(blank=True, max_length=4000)
    required = models.BooleanField(
        default=False, help_text="Required updates are prompted on every device that lacks them."
    )
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    signature = models.CharField(max_length=128)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(default=timezone.now)

    objects = SoftwareImageQuerySet.as_manager()

    class Meta:
        ordering = ["-major", "-minor", "-patch"]

    def __str__(self) -> str:
        return self.version

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)
