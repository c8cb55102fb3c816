"""PyTorch worker: a TorchScript model (.pth/.pt) to ONNX, and its outputs on sample inputs.

Job: {"model": path, "inputs": [{"name", "shape", "type"}], "onnx": out, "reference": out.npz,
"samples": n, "seed": s, "opset": n, "result": out.json}. TorchScript has no input names, so
the descriptor's inputs are the model's positional arguments, in order (as Neo took them)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # -I leaves the script's folder out

import _job

EAGER = (
    "{name} is a pickled PyTorch model (torch.save of the module{detail}), which cannot be "
    "loaded without the Python code that defined it. Save it as TorchScript instead: "
    "torch.jit.trace(model, example_input).save('{name}') (or torch.jit.script(model)), "
    "and package that file"
)


def load(path: Path):
    import torch

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        names = []  # torch.save's legacy (pre-1.6) format is a plain pickle
    # TorchScript archives carry the model's code (<name>/code/...); torch.save's only data.pkl.
    if not any("/code/" in name for name in names):
        detail = ""
        if any(name.endswith("data.pkl") for name in names):
            try:
                # weights_only refuses to build arbitrary objects, so nothing of the upload runs.
                state = torch.load(path, map_location="cpu", weights_only=True)
                if isinstance(state, dict):
                    detail = ": it holds only a state_dict, the weights without the network"
            except Exception:  # noqa: S110 - a whole pickled module: the message below says it
                pass
        raise _job.UserError(EAGER.format(name=path.name, detail=detail))
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        message = f"{path.name} is not a TorchScript model PyTorch can load: {exc}"
        raise _job.UserError(message) from None
    return model.eval()


def flatten(output) -> list:
    import torch

    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, list | tuple):
        return [t for item in output for t in flatten(item)]
    if isinstance(output, dict):
        return [t for key in output for t in flatten(output[key])]
    raise _job.UserError(f"the model returns a {type(output).__name__}, not tensors")


def main(job: dict) -> dict:
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = load(Path(job["model"]))
    specs = [
        {**spec, "type": _job.check_type(spec["name"], spec.get("type"), "float32")}
        for spec in job["inputs"]
    ]
    samples = _job.sample_inputs(specs, job["samples"], job["seed"])
    outputs = []
    with torch.no_grad():
        for arrays in samples:
            try:
                result = model(*[torch.from_numpy(a) for a in arrays])
            except Exception as exc:
                shapes = ", ".join(f"{s['name']} {s['type']} {s['shape']}" for s in specs)
                raise _job.UserError(
                    f"the model fails on the descriptor's inputs ({shapes}): "
                    f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else exc!r}. "
                    "Check the inputs' order, shapes and types in the descriptor"
                ) from None
            outputs.append([t.numpy() for t in flatten(result)])
        names = [f"output{i}" for i in range(len(outputs[0]))]
        example = tuple(torch.from_numpy(a) for a in samples[0])
        torch.onnx.export(
            model, example, job["onnx"], input_names=[s["name"] for s in specs],
            output_names=names, opset_version=job["opset"], do_constant_folding=True,
            dynamo=False,  # the TorchScript exporter: the one that takes a ScriptModule
        )  # fmt: skip
    names = _job.tidy_onnx(job["onnx"], {})
    _job.save_reference(job["reference"], samples, outputs)
    return {"inputs": specs, "outputs": names}


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")  # the exporter's deprecation notes would hide real errors
    _job.run(main)
