"""Runs an original model in its framework's converter env (``python -I`` this file JOB.json),
loading it as modelcompile's workers do, and saves its outputs; see framework_reference.py.

Job: ``kind`` (torchscript, saved_model, mxnet_checkpoint), ``model`` (the file, folder or
checkpoint prefix), ``epoch``, ``names`` (the inputs, in the descriptor's order), ``samples``,
``inputs`` (npz: ``in.<sample>.<i>``), ``outputs`` (npz written: ``out.<sample>.<name>``).
``order.json`` beside the job lists the output names in the model's order."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def torchscript(job: dict, samples: list[list[np.ndarray]]) -> list[dict[str, np.ndarray]]:
    import torch

    torch.set_num_threads(2)
    model = torch.jit.load(job["model"], map_location="cpu").eval()

    def flatten(output) -> list:
        if isinstance(output, torch.Tensor):
            return [output]
        if isinstance(output, list | tuple):
            return [t for item in output for t in flatten(item)]
        return [t for key in output for t in flatten(output[key])]

    results = []
    with torch.no_grad():
        for arrays in samples:
            outputs = flatten(model(*[torch.from_numpy(a) for a in arrays]))
            results.append({f"output{i}": t.numpy() for i, t in enumerate(outputs)})
    return results


def saved_model(job: dict, samples: list[list[np.ndarray]]) -> list[dict[str, np.ndarray]]:
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    signature = tf.saved_model.load(job["model"]).signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    # A descriptor names an input by its signature key or by its tensor's name.
    keys = [
        name if name in specs else next(k for k, s in specs.items() if s.name == name)
        for name in job["names"]
    ]
    results = []
    for arrays in samples:
        out = signature(**{key: tf.constant(a) for key, a in zip(keys, arrays, strict=True)})
        results.append({name: value.numpy() for name, value in sorted(out.items())})
    return results


def mxnet_checkpoint(job: dict, samples: list[list[np.ndarray]]) -> list[dict[str, np.ndarray]]:
    import mxnet as mx

    symbol, arg_params, aux_params = mx.model.load_checkpoint(job["model"], job["epoch"])
    shapes = {name: a.shape for name, a in zip(job["names"], samples[0], strict=True)}
    types = {name: a.dtype for name, a in zip(job["names"], samples[0], strict=True)}
    executor = symbol.simple_bind(mx.cpu(), grad_req="null", type_dict=types, **shapes)
    executor.copy_params_from(arg_params, aux_params, allow_extra_params=True)
    results = []
    for arrays in samples:
        feed = {n: mx.nd.array(a, dtype=a.dtype) for n, a in zip(job["names"], arrays, strict=True)}
        outputs = executor.forward(is_train=False, **feed)
        results.append(
            {name: out.asnumpy() for name, out in zip(symbol.list_outputs(), outputs, strict=True)}
        )
    return results


def main() -> None:
    job_path = Path(sys.argv[1])
    job = json.loads(job_path.read_text())
    with np.load(job["inputs"]) as saved:
        samples = [
            [saved[f"in.{s}.{i}"] for i in range(len(job["names"]))] for s in range(job["samples"])
        ]
    run = {"torchscript": torchscript, "saved_model": saved_model,
           "mxnet_checkpoint": mxnet_checkpoint}[job["kind"]]  # fmt: skip
    results = run(job, samples)
    arrays = {f"out.{s}.{name}": value for s, outs in enumerate(results) for name, value in
              outs.items()}  # fmt: skip
    np.savez(job["outputs"], **arrays)
    (job_path.parent / "order.json").write_text(json.dumps(list(results[0])))


if __name__ == "__main__":
    main()
