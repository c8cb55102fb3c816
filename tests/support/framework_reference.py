"""The original model's own outputs, computed by its framework: what a compiled model must match.

``framework_outputs(archive, framework, samples, work)`` unpacks a model package's asset and finds
the model in it with ``modelcompile``'s own code (``archive.unpack``, ``archive.find_model``), as a
compile does, then runs ``framework_reference_worker.py`` in the framework's converter env
(``modelcompile.envs.env_python``; ``python -m modelcompile install`` makes them). The worker loads
the model as ``modelcompile/workers/convert_<env>.py`` does (TorchScript with ``torch.jit.load``,
a SavedModel's serving signature, an MXNet checkpoint's highest epoch) and runs it on the given
inputs, exchanged as ``.npz`` files. Nothing of ONNX is involved.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from modelcompile import archive as archives
from modelcompile import envs

WORKER = Path(__file__).resolve().with_name("framework_reference_worker.py")


def framework_outputs(
    archive: Path,
    framework: str,
    samples: list[dict[str, np.ndarray]],
    work: Path | None = None,
    timeout: float = 300,
) -> list[dict[str, np.ndarray]]:
    """For each sample (``{descriptor input name: array}``, arrays in the descriptor's shapes),
    the model's outputs by name, in the model's own order: ``output0``, ``output1``, … for
    TorchScript (positional, as the compiled ONNX names them), the symbol's output names for
    MXNet (``prob_output``, …) and the serving signature's keys for TensorFlow."""
    env = envs.env_name(framework)
    if env is None:
        raise ValueError("an ONNX model has no framework of its own to run")
    problem = envs.env_problem(env)
    if problem is not None:
        raise RuntimeError(f"the {env} env is not ready ({problem}): {envs.install_command(env)}")
    work = Path(work or tempfile.mkdtemp(prefix="framework-reference-"))
    work.mkdir(parents=True, exist_ok=True)
    unpacked = work / "unpacked"
    archives.unpack(Path(archive), unpacked)
    model = archives.find_model(unpacked, framework.upper(), Path(archive).name)
    names = list(samples[0])
    arrays = {
        f"in.{s}.{i}": np.asarray(sample[name])
        for s, sample in enumerate(samples)
        for i, name in enumerate(names)
    }
    np.savez(work / "inputs.npz", **arrays)
    job = {
        "kind": model.kind, "model": str(model.path), "epoch": model.epoch, "names": names,
        "samples": len(samples), "inputs": str(work / "inputs.npz"),
        "outputs": str(work / "outputs.npz"),
    }  # fmt: skip
    (work / "job.json").write_text(json.dumps(job))
    done = subprocess.run(
        [str(envs.env_python(env)), "-I", str(WORKER), str(work / "job.json")],
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the {env} reference run failed:\n{done.stderr[-3000:]}")
    order = json.loads((work / "order.json").read_text()) if (work / "order.json").exists() else []
    with np.load(work / "outputs.npz") as saved:
        return [{name: saved[f"out.{s}.{name}"] for name in order} for s in range(len(samples))]


def within(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float) -> float:
    """The largest difference, after asserting ``max|actual - expected| <= atol + rtol *
    max|expected|`` (the tolerance scales with the output, as modelcompile's check does)."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert not np.isnan(expected).any() and not np.isnan(actual).any()
    diff = float(np.abs(actual - expected).max()) if expected.size else 0.0
    allowed = atol + rtol * float(np.abs(expected).max())
    assert diff <= allowed, f"differs by {diff:.3g}, more than {allowed:.3g}"
    return diff
