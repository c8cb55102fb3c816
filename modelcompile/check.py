"""The check every compile ends with: the ONNX, run by onnxruntime, against the framework's own
outputs on the same seeded inputs (which the worker wrote beside its outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelcompile.errors import CompileError

ORT_TYPES = {
    "tensor(bool)": "bool", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(int16)": "int16", "tensor(uint16)": "uint16", "tensor(int32)": "int32",
    "tensor(uint32)": "uint32", "tensor(int64)": "int64", "tensor(uint64)": "uint64",
    "tensor(float16)": "float16", "tensor(float)": "float32", "tensor(double)": "float64",
}  # fmt: skip
# |onnx - framework| <= atol + rtol * max|framework output|: relative to the output's scale,
# since a detector's box coordinates in pixels and its scores in 0..1 differ by 1000x. The
# absolute part is only a floor for outputs that are all zero: 1e-3 of it would let almost any
# conversion of a 1000-class softmax (every value about 1e-3) through.
TOLERANCE = {
    "FP32": {"atol": 1e-6, "rtol": 1e-3},
    "FP16": {"atol": 1e-6, "rtol": 1e-3},  # the ONNX is FP32 either way (see compiler.py)
}


def session(onnx: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the warnings about initializers are not the operator's
    try:
        return ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise CompileError(f"onnxruntime cannot load the compiled model: {exc}") from None


def model_inputs(sess: Any) -> list[dict]:
    return [
        {"name": node.name, "type": ORT_TYPES.get(node.type, node.type), "shape": list(node.shape)}
        for node in sess.get_inputs()
    ]


def _describe(inputs: list[dict]) -> str:
    return (
        ", ".join(
            f"{i['name']} ({i['type']} {[d if isinstance(d, int) else -1 for d in i['shape']]})"
            for i in inputs
        )
        or "none"
    )


def match_inputs(sess: Any, declared: list[dict]) -> list[dict]:
    """The descriptor's inputs against the ONNX's, as the appliance will match them
    (``name`` or ``name:0``; a descriptor dim <= 0 leaves the model's); resolved with types."""
    inputs = model_inputs(sess)
    by_name = {i["name"]: i for i in inputs}
    problems, resolved, seen = [], [], set()
    for spec in declared:
        node = by_name.get(spec["name"]) or by_name.get(spec["name"] + ":0")
        if node is None:
            problems.append(
                f"descriptor input '{spec['name']}' is not an input of the model "
                f"(the model's inputs: {_describe(inputs)})"
            )
            continue
        seen.add(node["name"])
        if spec.get("type") and spec["type"] != node["type"]:
            problems.append(
                f"input '{spec['name']}': the descriptor says type {spec['type']}, the model "
                f"says {node['type']}"
            )
        have = node["shape"]
        fits = len(have) == len(spec["shape"]) and all(
            want <= 0 or not isinstance(dim, int) or dim < 0 or dim == want
            for want, dim in zip(spec["shape"], have, strict=True)
        )
        if not fits:
            problems.append(
                f"input '{spec['name']}': the descriptor says shape {spec['shape']}, the model "
                f"says {[d if isinstance(d, int) else -1 for d in have]}"
            )
        resolved.append({"name": spec["name"], "shape": list(spec["shape"]), "type": node["type"]})
    problems += [
        f"model input '{i['name']}' ({i['type']}) is not in the descriptor; add it to its inputs"
        for i in inputs
        if i["name"] not in seen
    ]
    if problems:
        raise CompileError("the descriptor does not match the model: " + "; ".join(problems))
    return resolved


def compare(
    onnx: Path, reference: Path, precision: str, input_names: list[str], output_names: list[str]
) -> dict:
    """Run the ONNX on the reference inputs; the check's report, or CompileError naming the
    worst output, its difference and the tolerance."""
    tolerance = TOLERANCE[precision]
    sess = session(onnx)
    names = [node.name for node in sess.get_outputs()]
    if names != output_names:
        raise CompileError(f"the compiled model's outputs {names} are not {output_names}")
    with np.load(reference) as saved:
        data = {key: saved[key] for key in saved.files}
    samples = len({key.split(".")[1] for key in data if key.startswith("in.")})
    worst: dict[str, dict] = {}
    for s in range(samples):
        feed = {name: data[f"in.{s}.{i}"] for i, name in enumerate(input_names)}
        got = sess.run(None, feed)
        for i, name in enumerate(names):
            want = data[f"out.{s}.{i}"]
            have = np.asarray(got[i])
            if have.shape != want.shape:
                raise CompileError(
                    f"output '{name}' has shape {list(have.shape)} in the compiled model but "
                    f"{list(want.shape)} in the original; the conversion is wrong for this model"
                )
            diff, allowed = _difference(have, want, tolerance)
            entry = worst.setdefault(
                name, {"name": name, "shape": list(want.shape), "max_abs_diff": 0.0, "allowed": 0.0}
            )
            if diff >= entry["max_abs_diff"]:
                entry.update(max_abs_diff=diff, allowed=allowed)
    outputs = list(worst.values())
    failing = [o for o in outputs if not o["max_abs_diff"] <= o["allowed"]]
    if failing:
        bad = max(failing, key=lambda o: o["max_abs_diff"] / max(o["allowed"], 1e-30))
        raise CompileError(
            f"the compiled model does not compute what the original does: output "
            f"'{bad['name']}' differs by up to {bad['max_abs_diff']:.3g} (tolerance "
            f"{bad['allowed']:.3g}: atol {tolerance['atol']:g} + rtol {tolerance['rtol']:g} x "
            f"the output's largest value) over {samples} sample inputs. The model may use an "
            "operation the converter maps inexactly; report it with the model"
        )
    return {
        "tolerance": dict(tolerance),
        "max_abs_diff": max((o["max_abs_diff"] for o in outputs), default=0.0),
        "outputs": outputs,
        "samples": samples,
    }


def _difference(have: np.ndarray, want: np.ndarray, tolerance: dict) -> tuple[float, float]:
    """(largest |have - want|, what the tolerance allows for this output); NaN where the two
    disagree on being NaN counts as infinitely different."""
    a = have.astype(np.float64)
    b = want.astype(np.float64)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if (nan_a != nan_b).any():
        return float("inf"), 0.0
    finite = ~nan_b
    if not finite.any():
        return 0.0, tolerance["atol"]
    diff = float(np.max(np.abs(a[finite] - b[finite])))
    scale = float(np.max(np.abs(b[finite])))
    return diff, tolerance["atol"] + tolerance["rtol"] * scale


def run_onnx_only(onnx: Path, inputs: list[dict], samples: int, seed: int) -> dict:
    """An ONNX upload has no original to compare with: prove it runs on the sample inputs."""
    sess = session(onnx)
    names = {node.name for node in sess.get_inputs()}
    rng = np.random.default_rng(seed)
    outputs: dict[str, list[int]] = {}
    for _ in range(samples):
        feed = {}
        for spec in inputs:
            name = spec["name"] if spec["name"] in names else spec["name"] + ":0"
            dtype = np.dtype(spec["type"])
            shape = [d if d > 0 else 1 for d in spec["shape"]]
            if dtype == np.uint8:
                feed[name] = rng.integers(0, 256, size=shape, dtype=np.uint8)
            elif dtype.kind == "f":
                feed[name] = rng.standard_normal(size=shape).astype(dtype)
            else:
                feed[name] = rng.integers(0, 2, size=shape).astype(dtype)
        try:
            got = sess.run(None, feed)
        except Exception as exc:
            raise CompileError(f"the ONNX model fails on the descriptor's inputs: {exc}") from None
        for node, value in zip(sess.get_outputs(), got, strict=True):
            outputs[node.name] = list(np.shape(value))
    return {
        "tolerance": {},
        "max_abs_diff": 0.0,
        "outputs": [{"name": n, "shape": s, "max_abs_diff": 0.0} for n, s in outputs.items()],
        "samples": samples,
        "reference": "none: the upload is ONNX already; checked that onnxruntime runs it",
    }
