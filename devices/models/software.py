"""Agent software images (release bundles), checked and signed when administrators upload them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


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

    class Meta:
        ordering = ["-major", "-minor", "-patch"]

    def __str__(self) -> str:
        return self.version

    @property
    def version_tuple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)
