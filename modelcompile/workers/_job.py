"""What every worker shares: the job file, seeded sample inputs, the reference outputs, the
result, and tidying the exported ONNX. Runs in a converter env (numpy and onnx only)."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import numpy as np

NUMERIC = {
    "bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
    "float16", "float32", "float64",
}  # fmt: skip


class UserError(Exception):
    """A problem with the model or its descriptor; the message goes to the operator as is."""


def load_job() -> dict:
    return json.loads(Path(sys.argv[1]).read_text())


def sample_inputs(specs: list[dict], samples: int, seed: int) -> list[list[np.ndarray]]:
    """``samples`` sets of inputs (one array per spec): images' uint8 over 0..255, floats
    standard normal, other integers small; seeded, so a rerun compares the same numbers."""
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(samples):
        arrays = []
        for spec in specs:
            shape, dtype = spec["shape"], np.dtype(spec["type"])
            if dtype == np.uint8:
                value = rng.integers(0, 256, size=shape, dtype=np.uint8)
            elif dtype.kind == "f":
                value = rng.standard_normal(size=shape).astype(dtype)
            elif dtype.kind in "iu":
                value = rng.integers(0, 10, size=shape).astype(dtype)
            elif dtype.kind == "b":
                value = rng.integers(0, 2, size=shape).astype(bool)
            else:
                raise UserError(f"input '{spec['name']}' has type {dtype}, which is unsupported")
            arrays.append(value)
        sets.append(arrays)
    return sets


def save_reference(
    path: str, inputs: list[list[np.ndarray]], outputs: list[list[np.ndarray]]
) -> None:
    """inputs and outputs per sample, by position: ``in.<sample>.<i>``, ``out.<sample>.<i>``."""
    arrays = {}
    for s, (ins, outs) in enumerate(zip(inputs, outputs, strict=True)):
        arrays.update({f"in.{s}.{i}": np.asarray(a) for i, a in enumerate(ins)})
        arrays.update({f"out.{s}.{i}": np.asarray(a) for i, a in enumerate(outs)})
    np.savez(path, **arrays)


def check_type(name: str, declared: str | None, own: str) -> str:
    """The type the compile uses for an input: the descriptor's if it says one, else the
    model's own."""
    if declared is None:
        return own
    if declared not in NUMERIC:
        raise UserError(f"input '{name}': type '{declared}' is not a numeric type")
    return declared


def missing_inputs(declared: list[str], model: dict[str, str]) -> None:
    """UserError naming every descriptor input the model lacks, with the model's inputs."""
    unknown = [name for name in declared if name not in model]
    if unknown:
        listing = ", ".join(f"{n} ({t})" for n, t in model.items()) or "none"
        raise UserError(
            "descriptor input "
            + ", ".join(f"'{n}'" for n in unknown)
            + f" {'is not an input' if len(unknown) == 1 else 'are not inputs'} of the model "
            f"(the model's inputs: {listing}); fix the names in the descriptor"
        )
    extra = [name for name in model if name not in declared]
    if extra:
        raise UserError(
            "the model has input "
            + ", ".join(f"'{n}' ({model[n]})" for n in extra)
            + " that the descriptor does not declare; add it to the descriptor's inputs"
        )


def tidy_onnx(path: str, rename: dict[str, str]) -> list[str]:
    """Rename graph inputs/outputs (``rename``; outputs lose TensorFlow's ``:0``), drop
    initializers listed as graph inputs (older exporters list weights as inputs, which the
    appliance would take for inputs the descriptor lacks); the output names."""
    import onnx

    model = onnx.load(path)
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    keep = [value for value in graph.input if value.name not in initializers]
    del graph.input[:]
    graph.input.extend(keep)
    names = {**rename}
    for value in graph.output:
        if value.name not in names and value.name.endswith(":0"):
            names[value.name] = value.name[:-2]
    taken = {v.name for v in graph.input} | {v.name for v in graph.output}
    names = {old: new for old, new in names.items() if old != new and new not in taken}
    if names:
        for value in [*graph.input, *graph.output, *graph.value_info]:
            value.name = names.get(value.name, value.name)
        for node in graph.node:
            node.input[:] = [names.get(n, n) for n in node.input]
            node.output[:] = [names.get(n, n) for n in node.output]
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return [value.name for value in graph.output]


def run(main) -> None:
    """Run a worker's ``main(job) -> result``, writing the result (or the user error) to the
    job's result file. Anything else propagates: its traceback is the stderr the caller tails."""
    job = load_job()
    try:
        result = main(job)
    except UserError as exc:
        Path(job["result"]).write_text(json.dumps({"error": str(exc)}))
        sys.exit(3)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
    Path(job["result"]).write_text(json.dumps(result))
