"""Camera streams. Credentials, stream checks and camera packages build on this ([Data sources])."""

from __future__ import annotations

from django.db import models

from console.validators import resource_name_validator


class DataSource(models.Model):
    name = models.CharField(max_length=255, unique=True, validators=[resource_name_validator])
    description = models.CharField(max_length=255, blank=True)
    url = models.CharField(
        max_length=2048, help_text="rtsp://, rtsps:// or file:// URL, without credentials."
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_test_source(self) -> bool:
        return self.url.startswith("file://")
