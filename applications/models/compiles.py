"""Model assets compiled to ONNX, the model format appliances run (Vantage's SageMaker Neo).

A compile is keyed by what determines its output: the raw asset (its sha256), the descriptor's
inputs, the precision and the compiler's version. Every deployment of the same model reuses it;
a new compiler version compiles again.
"""

from __future__ import annotations

from django.db import models

from applications.models.packages import Asset
from core.status import ModelCompileStatus


class CompiledModel(models.Model):
    source = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="compiles")
    framework = models.CharField(max_length=16)  # the descriptor's: PYTORCH, TENSORFLOW, …
    # The descriptor's inputs as compiled ([{name, shape, type?}]) and their hash, for the key.
    inputs = models.JSONField(default=list)
    inputs_key = models.CharField(max_length=64)
    precision = models.CharField(max_length=8, default="FP32")  # FP32 or INT8
    compiler_version = models.CharField(max_length=32)
    status = models.CharField(
        max_length=16, choices=ModelCompileStatus.choices, default=ModelCompileStatus.PENDING
    )
    progress = models.CharField(max_length=255, blank=True)  # the step it is at
    message = models.TextField(blank=True)  # why it failed, as the operator reads it
    # The framework was not installed: compiled again once it is.
    framework_missing = models.BooleanField(default=False)
    result = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="compiled_from"
    )
    # What was checked: the original and the ONNX on the same inputs (tolerance, differences).
    verification = models.JSONField(default=dict, blank=True)
    # INT8 only: what it is calibrated on ({"folder": path} or {"data_source": pk, "name": …}),
    # the agreement with FP32 it must reach, the accuracy report, and whether deployments of
    # the model use it (the operator's choice; a failed one is never used).
    calibration = models.JSONField(default=dict, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    accuracy = models.JSONField(default=dict, blank=True)
    in_use = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "inputs_key", "precision", "compiler_version"],
                name="one_compile_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.framework} {self.source.sha256[:12]} {self.precision} ({self.status})"
