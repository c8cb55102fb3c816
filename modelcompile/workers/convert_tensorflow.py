"""TensorFlow worker: a SavedModel folder or a frozen GraphDef (.pb) to ONNX with tf2onnx, and
the model's outputs on sample inputs.

Job as in ``convert_pytorch.py`` plus ``"kind"``: ``saved_model`` (its serving signature) or
``frozen_graph`` (its Placeholders are the inputs, the nodes nothing consumes the outputs).
The descriptor names inputs as the signature does or by their tensor's name (TF1 exports
such as the Object Detection API's key ``inputs`` on tensor ``image_tensor``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # -I leaves the script's folder out

import _job

# Nodes that end a frozen graph without being one of its outputs.
NOT_OUTPUTS = {
    "Const", "Placeholder", "PlaceholderWithDefault", "NoOp", "Assert", "SaveV2", "RestoreV2",
    "VarHandleOp", "VariableV2", "Variable", "Print", "PrintV2", "Assign", "AssignVariableOp",
}  # fmt: skip


def bare(tensor: str) -> str:
    return tensor[:-2] if tensor.endswith(":0") else tensor


def match(job: dict, model: dict[str, tuple[str, str, list | None]]) -> list[dict]:
    """The descriptor's inputs against the model's (``alias -> (tensor, dtype, shape)``),
    resolved: each with its model tensor and type."""
    primary: dict[str, tuple[str, str]] = {}  # tensor -> the alias listed first, its type
    for alias, (tensor, dtype, _) in model.items():
        primary.setdefault(tensor, (alias, dtype))
    declared = [
        primary[model[n][0]][0] if n in model else n for n in (s["name"] for s in job["inputs"])
    ]
    _job.missing_inputs(declared, dict(primary.values()))
    specs = []
    for spec in job["inputs"]:
        tensor, dtype, shape = model[spec["name"]]
        if shape is not None and (
            len(shape) != len(spec["shape"])
            or any(
                have not in (None, -1) and have != want
                for have, want in zip(shape, spec["shape"], strict=True)
            )
        ):
            raise _job.UserError(
                f"input '{spec['name']}': the descriptor says shape {spec['shape']}, the model "
                f"says {[-1 if d is None else d for d in shape]}"
            )
        kind = _job.check_type(spec["name"], spec.get("type"), dtype)
        if kind != dtype:  # a TensorFlow input has one type: feeding another fails
            raise _job.UserError(
                f"input '{spec['name']}': the descriptor says type {kind}, the model says "
                f"{dtype}; give {dtype} or leave the type out"
            )
        specs.append({**spec, "type": kind, "tensor": tensor})
    return specs


def convert(
    graph_def,
    inputs: list[str],
    outputs: list[str],
    specs: list[dict],
    job: dict,
    rename: dict[str, str],
    tables=None,
) -> None:
    from tf2onnx.convert import _convert_common

    _convert_common(
        graph_def, name=Path(job["model"]).name, opset=job["opset"],
        input_names=inputs, output_names=outputs,
        # The descriptor's shapes are what the appliance feeds: static shapes let TensorRT plan.
        shape_override={s["tensor"]: list(s["shape"]) for s in specs},
        tensors_to_rename={**rename, **{s["tensor"]: s["name"] for s in specs}},
        initialized_tables=tables, output_path=job["onnx"],
    )  # fmt: skip


def saved_model(job: dict, tf) -> tuple[list[dict], list[str], list[list]]:
    from tf2onnx import tf_loader

    try:
        graph_def, inputs, outputs, func, _imported, tables, rename = tf_loader.from_saved_model(
            job["model"], None, None, return_concrete_func=True, return_initialized_tables=True,
            return_tensors_to_rename=True,
        )  # fmt: skip
    except Exception as exc:
        raise _job.UserError(f"TensorFlow cannot load the SavedModel: {exc}") from None
    structured = func.structured_input_signature[1] if func.structured_input_signature else {}
    model: dict[str, tuple[str, str, list | None]] = {}
    key_of: dict[str, str] = {}
    for tensor in inputs:
        name = rename.get(tensor, bare(tensor))
        key = next((k for k, s in structured.items() if s.name == name), name)
        spec = structured.get(key)
        dtype = spec.dtype.name if spec is not None else "float32"
        shape = spec.shape.as_list() if spec is not None and spec.shape.rank is not None else None
        for alias in (key, name, bare(tensor)):
            model.setdefault(alias, (tensor, dtype, shape))
        key_of[tensor] = key
    specs = match(job, model)
    samples = _job.sample_inputs(specs, job["samples"], job["seed"])
    results = []
    for arrays in samples:
        out = func(
            **{key_of[s["tensor"]]: tf.constant(a) for s, a in zip(specs, arrays, strict=True)}
        )
        results.append({name: value.numpy() for name, value in out.items()})
    convert(graph_def, inputs, outputs, specs, job, rename, tables)
    return specs, samples, results


def frozen_graph(job: dict, tf) -> tuple[list[dict], list[str], list[list]]:
    from tf2onnx import tf_loader

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(Path(job["model"]).read_bytes())
    except Exception as exc:
        raise _job.UserError(
            f"{Path(job['model']).name} is not a TensorFlow GraphDef: {exc}"
        ) from None
    consumed = {i.lstrip("^").split(":")[0] for node in graph_def.node for i in node.input}
    model = {}
    for node in graph_def.node:
        if node.op == "Placeholder":
            dtype = tf.dtypes.as_dtype(node.attr["dtype"].type).name
            dims = node.attr["shape"].shape
            shape = (
                None if dims.unknown_rank else [None if d.size < 0 else d.size for d in dims.dim]
            )
            model[node.name] = (f"{node.name}:0", dtype, shape)
    out_names = [
        n.name for n in graph_def.node if n.name not in consumed and n.op not in NOT_OUTPUTS
    ]
    if not out_names:
        raise _job.UserError(f"{Path(job['model']).name} has no outputs (every node feeds another)")
    specs = match(job, model)
    outputs = [f"{name}:0" for name in out_names]
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    samples = _job.sample_inputs(specs, job["samples"], job["seed"])
    results = []
    with tf.compat.v1.Session(graph=graph) as session:
        for arrays in samples:
            values = session.run(
                outputs, {s["tensor"]: a for s, a in zip(specs, arrays, strict=True)}
            )
            results.append(dict(zip(out_names, values, strict=True)))
    graph_def, inputs, outputs = tf_loader.from_graphdef(
        job["model"], [s["tensor"] for s in specs], outputs
    )
    convert(graph_def, inputs, outputs, specs, job, {o: bare(o) for o in outputs})
    return specs, samples, results


def main(job: dict) -> dict:
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    tf.random.set_seed(0)
    with tf.device("/cpu:0"):
        specs, samples, results = (saved_model if job["kind"] == "saved_model" else frozen_graph)(
            job, tf
        )
    names = _job.tidy_onnx(job["onnx"], {})
    missing = [name for name in names if name not in results[0]]
    if missing:
        raise RuntimeError(f"ONNX outputs {missing} are not among the model's {sorted(results[0])}")
    _job.save_reference(job["reference"], samples, [[r[n] for n in names] for r in results])
    return {
        "inputs": [{k: v for k, v in s.items() if k != "tensor"} for s in specs],
        "outputs": names,
    }


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)  # tf2onnx logs every step; errors come as exceptions
    _job.run(main)
