"""MXNet worker: a checkpoint (``<prefix>-symbol.json`` + ``<prefix>-NNNN.params``) to ONNX with
MXNet's own exporter (``mx.onnx.export_model``), and the model's outputs on sample inputs.

Job as in ``convert_pytorch.py`` plus ``"epoch"``; ``"model"`` is the prefix. The symbol's free
variables (not parameters) are its inputs; a SoftmaxOutput's ``*_label`` is a training-only
input that neither the descriptor nor the ONNX has."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # -I leaves the script's folder out

import _job


def main(job: dict) -> dict:
    import mxnet as mx
    import numpy as np

    mx.random.seed(0)
    prefix = job["model"]
    name = Path(prefix).name
    try:
        symbol, arg_params, aux_params = mx.model.load_checkpoint(prefix, job["epoch"])
    except Exception as exc:
        raise _job.UserError(
            f"MXNet cannot load {name}-symbol.json with {name}-{job['epoch']:04d}.params: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
        ) from None
    params = set(arg_params) | set(aux_params)
    free = [n for n in symbol.list_inputs() if n not in params]
    declared = [spec["name"] for spec in job["inputs"]]
    labels = [n for n in free if n.endswith("_label") and n not in declared]
    _job.missing_inputs(declared, {n: "float32" for n in free if n not in labels})
    specs = [
        {**spec, "type": _job.check_type(spec["name"], spec.get("type"), "float32")}
        for spec in job["inputs"]
    ]
    shapes = {s["name"]: tuple(s["shape"]) for s in specs}
    try:
        arg_shapes, _, _ = symbol.infer_shape(**shapes)
        executor = symbol.simple_bind(
            mx.cpu(), grad_req="null",
            type_dict={s["name"]: np.dtype(s["type"]) for s in specs}, **shapes,
        )  # fmt: skip
    except Exception as exc:
        raise _job.UserError(
            f"the model does not accept the descriptor's input shapes {shapes}: "
            f"{str(exc).strip().splitlines()[0]}"
        ) from None
    executor.copy_params_from(arg_params, aux_params, allow_extra_params=True)
    samples = _job.sample_inputs(specs, job["samples"], job["seed"])
    results = []
    for arrays in samples:
        feed = {
            s["name"]: mx.nd.array(a, dtype=a.dtype) for s, a in zip(specs, arrays, strict=True)
        }
        outputs = executor.forward(is_train=False, **feed)
        results.append([out.asnumpy() for out in outputs])
    shape_of = dict(zip(symbol.list_arguments(), arg_shapes, strict=True))
    exported = [n for n in free if n not in labels]
    mx.onnx.export_model(
        symbol, {**arg_params, **aux_params},
        in_shapes=[shapes[n] for n in exported] + [shape_of[n] for n in labels],
        in_types=[np.dtype(next(s["type"] for s in specs if s["name"] == n)) for n in exported]
        + [np.float32] * len(labels),
        # The exporter picks, per operator, the newest form it has up to onnx's own opset.
        onnx_file_path=job["onnx"],
        run_shape_inference=True,
    )  # fmt: skip
    names = _job.tidy_onnx(job["onnx"], {})
    if len(names) != len(results[0]):
        raise RuntimeError(f"the ONNX has {len(names)} outputs, the model {len(results[0])}")
    _job.save_reference(job["reference"], samples, results)
    return {"inputs": specs, "outputs": names}


if __name__ == "__main__":
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)  # the exporter logs each operator
    _job.run(main)
