"""The INT8 option of a model asset: what to calibrate on, and the agreement it must reach."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from applications.calibration import CalibrationError, check_folder
from datasources.models import DataSource
from modelcompile.quantize import DEFAULT_THRESHOLD


class Int8Form(forms.Form):
    data_source = forms.ModelChoiceField(
        queryset=DataSource.objects.all(),
        required=False,
        empty_label="— frames from a media folder —",
        label="Calibrate on a camera",
        help_text="Frames from the camera the application watches give the best calibration.",
    )
    folder = forms.CharField(
        required=False,
        label="or a media folder",
        help_text="Images and videos, in a folder under the media folders (TEST_MEDIA_DIRS).",
    )
    threshold = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        initial=DEFAULT_THRESHOLD,
        label="Refuse below",
        help_text="The agreement with FP32, from 0 to 1, the INT8 model must reach.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        source, folder = data.get("data_source"), (data.get("folder") or "").strip()
        if bool(source) == bool(folder):
            raise ValidationError("Choose a camera or a media folder to calibrate on (one).")
        if folder:
            try:
                data["folder"] = str(check_folder(folder))
            except CalibrationError as exc:
                raise ValidationError({"folder": str(exc)}) from None
        return data

    def calibration(self) -> dict[str, Any]:
        source = self.cleaned_data.get("data_source")
        if source is not None:
            return {"data_source": source.pk, "name": source.name}
        return {"folder": self.cleaned_data["folder"]}
