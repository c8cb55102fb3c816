"""vantage-cli compile-int8 against the real console and its Celery worker: the person detector
of the people counter, registered as panorama-cli would, quantized on the sample's video."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.models import Installation
from tests.support.cli import ONNX_MODEL, imported_sample, ok, run_cli

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SAMPLE_MEDIA = Path(__file__).resolve().parents[2] / "samples" / "people_counter" / "media"


def test_compile_int8_quantizes_a_registered_model_and_says_how_well(env, tmp_path):
    project, account = imported_sample(env, tmp_path)
    model = f"packages/{account}-SQUEEZENET_PYTORCH-1.0"
    descriptor = project / model / "descriptor.json"
    descriptor.write_text(json.dumps({"mlModelDescriptor": {
        "envelopeVersion": "2021-01-01", "framework": "ONNX",
        "inputs": [{"name": "image_tensor", "shape": [1, 300, 300, 3]}],
    }}))  # fmt: skip
    archive = tmp_path / "detector.onnx"
    archive.write_bytes(ONNX_MODEL.read_bytes())
    ok(run_cli(env, project, "add-raw-model", "--model-asset-name", "model_asset",
             "--model-local-path", archive, "--descriptor-path", f"{model}/descriptor.json",
             "--packages-path", model))  # fmt: skip
    ok(run_cli(env, project, "package-application", "--packages-path", model))

    refused = run_cli(env, project, "compile-int8", "--package-path", model,
                   "--calibration-folder", tmp_path)  # fmt: skip
    assert refused.returncode == 1
    assert "error: the console refused INT8: folder: ['the calibration folder" in refused.stderr
    assert "is outside the media folders" in refused.stderr

    done = run_cli(env, project, "compile-int8", "--package-path", model,
                "--calibration-folder", SAMPLE_MEDIA, "--threshold", "0.6", "--wait")  # fmt: skip
    out = ok(done)
    assert "queued, calibrating on" in out
    assert "INT8 succeeded: agreement with FP32" in out and "boxes matched at IoU" in out
    assert "New deployments of this model run it in INT8." in out
    assert Installation.get().account_id == account
