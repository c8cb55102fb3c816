"""Metrics of running application instances, as their appliance's heartbeats report them."""

from __future__ import annotations

from django.db import models


class InstanceMetricSample(models.Model):
    """One heartbeat's ``applications`` block for one instance: ``{node: {metric: value}}``.

    At most one sample per instance every few seconds, kept for a day (applications/metrics.py).
    """

    instance = models.ForeignKey(
        "applications.ApplicationInstance", on_delete=models.CASCADE, related_name="metric_samples"
    )
    time = models.DateTimeField()
    nodes = models.JSONField(default=dict)

    class Meta:
        ordering = ["time", "id"]
        indexes = [
            models.Index(fields=["instance", "time"], name="metricsample_instance_time"),
            models.Index(fields=["time"], name="metricsample_time"),  # pruning
        ]

    def __str__(self) -> str:
        return f"{self.instance_id} at {self.time:%Y-%m-%d %H:%M:%S}"
