"""INT8: a compiled model quantized statically, calibrated on real inputs, and checked against
its FP32 self before anyone runs it.

Vantage's option (Panorama compiled FP16 or FP32 only): on a CPU appliance an INT8 model does
the same work in about half the time. Quantization changes the answers a little, so every
INT8 model comes with an accuracy report against FP32 on inputs it was not calibrated on, and
is refused below a threshold:

- a detector (outputs named ``*boxes*`` of shape ``[..., 4]`` and ``*scores*``): the share of
  boxes (score >= 0.5) that both models find, matched at IoU >= 0.5 (2·matched / (fp32 + int8);
  frames where neither finds anything agree);
- a classifier (a first output of shape ``[1, classes]``): top-1 agreement;
- anything else: the share of inputs whose outputs stay within 10 % of the FP32 outputs' range.

Runs in the console's own environment: onnxruntime's quantization tools work on the ONNX.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelcompile.errors import CompileError

logger = logging.getLogger(__name__)

# Box-level agreement of SSDLite on the test video is about 0.9: a box near the score cut-off
# flips either way. Below 0.85 the operator decides (a lower threshold, or FP32).
DEFAULT_THRESHOLD = 0.85
SCORE_MIN = 0.5
IOU_MIN = 0.5
Inputs = dict[str, np.ndarray]


@dataclass
class AccuracyReport:
    kind: str  # "detector", "classifier" or "outputs"
    agreement: float  # 0..1, as the module docstring defines it per kind
    threshold: float
    samples: int  # inputs compared (not used for calibration)
    calibration_samples: int
    detail: str  # the counts behind the agreement, in words

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"INT8 {self.kind} agreement with FP32 {self.agreement:.1%} on {self.samples} "
            f"input(s) ({self.detail}); threshold {self.threshold:.0%}"
        )


class QuantizeRefused(CompileError):
    """The INT8 model agrees too little with FP32: the report says by how much."""

    def __init__(self, report: AccuracyReport) -> None:
        self.report = report
        super().__init__(
            f"the INT8 model is refused: {report}. Calibrate on more representative frames, "
            "lower the threshold if this accuracy is enough for the application, or use FP32"
        )


def image_inputs(
    frames: Sequence[np.ndarray], name: str, shape: Sequence[int], dtype: str
) -> list[Inputs]:
    """Camera frames (BGR, any size) as a one-image-input model takes them: resized to its
    height and width, RGB, NHWC or NCHW by where its 3 channels are, uint8 pixels or floats
    from 0 to 1. (An application that normalizes otherwise calibrates best on its own inputs.)
    CompileError when the input is not an image."""
    import cv2

    dims = list(shape)
    if len(dims) != 4 or 3 not in (dims[1], dims[3]):
        raise CompileError(
            f"INT8 calibration from frames needs an image input ([1, H, W, 3] or [1, 3, H, W]); "
            f"input '{name}' is {dims}"
        )
    channels_last = dims[3] == 3
    height, width = (dims[1], dims[2]) if channels_last else (dims[2], dims[3])
    samples = []
    for frame in frames:
        size = (width if width > 0 else frame.shape[1], height if height > 0 else frame.shape[0])
        rgb = cv2.cvtColor(cv2.resize(frame, size), cv2.COLOR_BGR2RGB)
        tensor = rgb if channels_last else rgb.transpose(2, 0, 1)
        tensor = tensor[None] if dtype == "uint8" else (tensor[None] / 255.0).astype(dtype)
        samples.append({name: np.ascontiguousarray(tensor)})
    return samples


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of inputs."""

    def __init__(self, samples: Sequence[Inputs]) -> None:
        self._samples: Iterator[Inputs] = iter(samples)

    def get_next(self) -> Inputs | None:
        return next(self._samples, None)


def quantize(
    model: Path,
    output: Path,
    samples: Sequence[Inputs],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> AccuracyReport:
    """Quantize ``model`` (FP32 ONNX) into ``output``: calibrated on the first part of
    ``samples`` (inputs by the model's input names), compared with FP32 on the rest.
    QuantizeRefused below ``threshold``; CompileError when it cannot be quantized at all."""
    # Imported here: the quantization tools pull in onnx and take a second to load, and the
    # console imports this package on every request that asks what it can compile.
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if len(samples) < 4:
        raise CompileError(
            f"INT8 needs at least 4 calibration inputs (frames), {len(samples)} given"
        )
    held_out = max(2, len(samples) // 4)  # never calibrated on: the report is honest
    calibration, evaluation = list(samples[:-held_out]), list(samples[-held_out:])
    with tempfile.TemporaryDirectory(prefix="vantage-int8-") as work:
        prepared = Path(work) / "prepared.onnx"
        try:
            quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
            # QDQ on every operator it supports: fewer float/int8 round trips than quantizing
            # the convolutions alone, which is what makes it faster on a CPU.
            quantize_static(
                str(prepared), str(output), _Reader(calibration),
                quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8, per_channel=False,
            )  # fmt: skip
        except Exception as exc:  # onnxruntime raises plain Exceptions with its reasons
            raise CompileError(f"the model cannot be quantized to INT8: {exc}") from None
    report = compare(model, output, evaluation, threshold)
    report.calibration_samples = len(calibration)
    if report.agreement < threshold:
        raise QuantizeRefused(report)
    return report


def compare(fp32: Path, int8: Path, samples: Sequence[Inputs], threshold: float) -> AccuracyReport:
    """The accuracy report of ``int8`` against ``fp32`` on ``samples``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    sessions = [
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for path in (fp32, int8)
    ]
    names = [output.name for output in sessions[0].get_outputs()]
    pairs = [
        (dict(zip(names, sessions[0].run(None, s), strict=True)),
         dict(zip(names, sessions[1].run(None, s), strict=True)))
        for s in samples
    ]  # fmt: skip
    boxes = next((n for n in names if "box" in n.lower() and pairs[0][0][n].shape[-1] == 4), None)
    scores = next((n for n in names if "score" in n.lower()), None)
    if boxes and scores:
        matched = total = 0
        for reference, quantized in pairs:
            a = _kept(reference[boxes], reference[scores])
            b = _kept(quantized[boxes], quantized[scores])
            matched += 2 * _matches(a, b)
            total += len(a) + len(b)
        agreement = matched / total if total else 1.0
        detail = f"{matched // 2} of {total - matched // 2} boxes matched at IoU >= {IOU_MIN}"
        return AccuracyReport("detector", agreement, threshold, len(pairs), 0, detail)
    first = pairs[0][0][names[0]]
    if first.ndim == 2 and first.shape[0] == 1 and first.shape[1] > 1:
        same = sum(
            int(np.argmax(reference[names[0]]) == np.argmax(quantized[names[0]]))
            for reference, quantized in pairs
        )
        detail = f"the same top-1 class on {same} of {len(pairs)}"
        return AccuracyReport("classifier", same / len(pairs), threshold, len(pairs), 0, detail)
    close = 0
    for reference, quantized in pairs:
        worst = 0.0
        for name in names:
            want, got = reference[name].astype(np.float64), quantized[name].astype(np.float64)
            span = float(np.ptp(want)) or 1.0
            worst = max(worst, float(np.max(np.abs(want - got))) / span if want.size else 0.0)
        close += int(worst <= 0.1)
    detail = f"{close} of {len(pairs)} within 10 % of the FP32 range"
    return AccuracyReport("outputs", close / len(pairs), threshold, len(pairs), 0, detail)


def _kept(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    boxes = boxes.reshape(-1, 4)
    return boxes[scores.reshape(-1)[: len(boxes)] >= SCORE_MIN]


def _matches(a: np.ndarray, b: np.ndarray) -> int:
    """Boxes of ``a`` with a partner in ``b`` at IoU >= IOU_MIN (each used once, best first)."""
    if not len(a) or not len(b):
        return 0
    top = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom = np.minimum(a[:, None, 2:], b[None, :, 2:])
    overlap = np.prod(np.clip(bottom - top, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    iou = overlap / np.maximum(area_a[:, None] + area_b[None, :] - overlap, 1e-12)
    matched = 0
    while iou.size and iou.max() >= IOU_MIN:
        i, j = np.unravel_index(int(np.argmax(iou)), iou.shape)
        matched += 1
        iou[i, :] = -1
        iou[:, j] = -1
    return matched
