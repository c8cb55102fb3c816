"""INT8's pieces that need no model: frames as model inputs, box matching, the refusals.
(The console's tests quantize the real person detector on the real video end to end.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelcompile.errors import CompileError
from modelcompile.quantize import AccuracyReport, QuantizeRefused, _matches, image_inputs, quantize


def frames(count: int = 2) -> list[np.ndarray]:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, :, 2] = 200  # red in BGR
    return [frame] * count


def test_frames_become_nhwc_uint8_or_nchw_floats_in_rgb():
    [nhwc] = image_inputs(frames(1), "image_tensor", [1, 300, 300, 3], "uint8")
    tensor = nhwc["image_tensor"]
    assert tensor.shape == (1, 300, 300, 3) and tensor.dtype == np.uint8
    assert tuple(tensor[0, 0, 0]) == (200, 0, 0)  # RGB now
    [nchw] = image_inputs(frames(1), "data", [1, 3, 224, 224], "float32")
    tensor = nchw["data"]
    assert tensor.shape == (1, 3, 224, 224) and tensor.dtype == np.float32
    assert tensor.flags.c_contiguous
    assert np.isclose(tensor[0, 0, 0, 0], 200 / 255) and tensor[0, 1, 0, 0] == 0


def test_a_non_image_input_is_refused_by_name():
    with pytest.raises(CompileError, match=r"needs an image input .*input 'x' is \[1, 10\]"):
        image_inputs(frames(1), "x", [1, 10], "float32")


def test_boxes_match_once_each_at_iou_half():
    a = np.array([[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]], np.float32)
    assert _matches(a, a) == 2
    assert _matches(a, a[:1]) == 1
    shifted = a + 0.3  # overlaps too little
    assert _matches(a[:1], shifted[:1]) == 0
    assert _matches(a, np.zeros((0, 4), np.float32)) == 0


def test_too_few_frames_are_refused_before_any_work(tmp_path):
    with pytest.raises(CompileError, match="at least 4 calibration inputs"):
        quantize(Path(tmp_path / "model.onnx"), tmp_path / "out.onnx", [{"x": np.zeros(1)}] * 3)


def test_a_refusal_carries_its_report():
    report = AccuracyReport("classifier", 0.5, 0.85, 16, 48, "the same top-1 class on 8 of 16")
    refused = QuantizeRefused(report)
    assert refused.report is report
    assert str(refused).startswith(
        "the INT8 model is refused: INT8 classifier agreement with FP32 50.0% on 16 input(s) "
        "(the same top-1 class on 8 of 16); threshold 85%."
    )
