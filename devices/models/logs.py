"""Device log lines: sent over the link, or read from an uploaded offline log image."""

from __future__ import annotations

from django.db import models


class DeviceLog(models.Model):
    LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]

    device = models.ForeignKey("devices.Device", on_delete=models.CASCADE, related_name="logs")
    time = models.DateTimeField()
    stream = models.CharField(max_length=32)
    level = models.CharField(max_length=10, choices=[(level, level) for level in LEVELS])
    message = models.TextField()
    # "link", or the file name of the log image it came from.
    source = models.CharField(max_length=100, default="link")
    # An application's lines (streams code, console_output, stream, model, display) name the
    # instance and node; the instance id is kept as text so lines outlive the instance.
    application_instance_id = models.CharField(max_length=128, blank=True, default="")
    node = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [
            models.Index(fields=["device", "-time"]),
            models.Index(fields=["application_instance_id", "-time"], name="devicelog_app_time"),
        ]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.level} {self.stream}: {self.message[:80]}"
