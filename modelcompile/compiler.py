"""``compile_model``: a Panorama model package's raw framework model to the ONNX a Vantage
appliance runs, checked against the framework's own outputs (Vantage's SageMaker Neo)."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modelcompile import archive as archives
from modelcompile import check, envs
from modelcompile.errors import CompileError


def _version() -> str:
    # Bump _BASE when outputs change for another reason; the pins and the workers' code are
    # hashed in, so changing either recompiles cached models without anyone remembering to.
    digest = hashlib.sha256()
    for path in sorted([*envs.REQUIREMENTS_DIR.glob("*.txt"), *envs.WORKERS_DIR.glob("*.py")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{_BASE}+{digest.hexdigest()[:10]}"


_BASE = "1"
COMPILER_VERSION: str = _version()
PRECISIONS = ("FP32", "FP16", "INT8")
OPSET = 17  # TensorRT 8.6 (JetPack 5) parses opset 17
SAMPLES = 3
SEED = 0


@dataclass(frozen=True)
class InputDecl:
    """A descriptor input. ``type`` is a numpy dtype name, or None for the model's own."""

    name: str
    shape: list[int]
    type: str | None = None


@dataclass
class CompileResult:
    archive: Path  # a .tar.gz holding exactly one model.onnx (what the appliance unpacks)
    onnx: Path
    precision: str
    framework: str
    inputs: list[InputDecl]  # as resolved: type filled in
    check: dict = field(default_factory=dict)


def cache_key(asset_sha256: str, precision: str) -> str:
    """The compiled model's cache key: the asset's content, this compiler and the precision."""
    text = "\0".join(
        ["vantage-modelcompile", asset_sha256.lower(), COMPILER_VERSION, precision.upper()]
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _check_inputs(inputs: list[InputDecl], framework: str) -> list[dict]:
    if not inputs:
        raise CompileError("the descriptor declares no inputs; a model needs at least one")
    specs = []
    for decl in inputs:
        shape = list(decl.shape)
        if not decl.name or not shape or not all(isinstance(d, int) for d in shape):
            raise CompileError(
                f"descriptor input {decl.name!r}: needs a name and a shape of whole numbers "
                f"(got {decl.shape!r})"
            )
        if framework != "ONNX" and any(d <= 0 for d in shape):
            # Neo compiled for fixed shapes; so does this (TensorRT plans for them).
            raise CompileError(
                f"descriptor input '{decl.name}': shape {shape} has a dimension of 0 or less; "
                "give the size the application feeds (for example [1, 3, 224, 224])"
            )
        specs.append({"name": decl.name, "shape": shape, "type": decl.type})
    return specs


def compile_model(
    archive: Path,
    *,
    framework: str,
    inputs: list[InputDecl],
    work_dir: Path,
    precision: str = "FP32",
    progress: Callable[[str], None] | None = None,
) -> CompileResult:
    """Compile the model asset ``archive`` (a .tar.gz as Panorama packaged it) for ``framework``
    (TENSORFLOW, PYTORCH, MXNET or ONNX) into ``work_dir``; CompileError (FrameworkMissing when
    this machine lacks the framework's converter env, which a compile never installs)."""
    say = progress or (lambda _message: None)
    framework = framework.upper()
    precision = (precision or "FP32").upper()
    if precision not in PRECISIONS:
        raise CompileError(f"unknown precision '{precision}': one of {', '.join(PRECISIONS)}")
    if precision == "INT8":
        # Static quantization needs calibration frames: quantize.quantize() on the FP32 result.
        raise CompileError(
            "INT8 is made from the FP32 model with calibration frames: compile with FP32, then "
            "quantize it (the console's INT8 option on the package page or the API)"
        )
    env = envs.require_env(framework)
    specs = _check_inputs(inputs, framework)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    unpacked = work_dir / "unpacked"
    onnx = work_dir / "model.onnx"
    target = work_dir / "model.tar.gz"
    for stale in (onnx, target):
        stale.unlink(missing_ok=True)
    try:
        say(f"unpacking {Path(archive).name}")
        _unpack(Path(archive), unpacked, framework)
        model = archives.find_model(unpacked, framework, Path(archive).name)
        say(f"found {_describe(model, unpacked)}")
        if env is None:
            shutil.copyfile(model.path, onnx)
            sess = check.session(onnx)
            resolved = check.match_inputs(sess, specs)
            say(f"checking that onnxruntime runs it on {SAMPLES} sample inputs")
            report = check.run_onnx_only(onnx, resolved, SAMPLES, SEED)
        else:
            resolved, report = _convert(env, model, specs, work_dir, precision, say)
    except BaseException:
        # An ONNX that failed its check must not be mistaken for a compiled model.
        onnx.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)
    packed = archives.pack(onnx, target)
    say(f"compiled: {packed.name} ({packed.stat().st_size / 2**20:.1f} MiB)")
    return CompileResult(
        archive=packed, onnx=onnx, precision=precision, framework=framework,
        inputs=[InputDecl(r["name"], list(r["shape"]), r["type"]) for r in resolved],
        check=report,
    )  # fmt: skip


def _unpack(archive: Path, folder: Path, framework: str) -> None:
    # An ONNX model may come bare, as the appliance also accepts it (modelload.unpack).
    bare = archive.suffix == ".onnx" and archive.is_file() and not tarfile.is_tarfile(archive)
    if framework == "ONNX" and bare:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive, folder / archive.name)
        return
    archives.unpack(archive, folder)


def _describe(model: archives.ModelFiles, root: Path) -> str:
    where = model.path.relative_to(root)
    return {
        "torchscript": f"TorchScript model {where}",
        "saved_model": f"TensorFlow SavedModel {where}/",
        "frozen_graph": f"TensorFlow frozen graph {where}",
        "mxnet_checkpoint": f"MXNet model {where}-symbol.json, epoch {model.epoch}",
        "onnx": f"ONNX model {where}",
    }[model.kind]


def _convert(
    env: str,
    model: archives.ModelFiles,
    specs: list[dict],
    work_dir: Path,
    precision: str,
    say: Callable[[str], None],
) -> tuple[list[dict], dict]:
    job_dir = work_dir / "job"
    shutil.rmtree(job_dir, ignore_errors=True)
    reference = job_dir / "reference.npz"
    onnx = work_dir / "model.onnx"
    job = {
        "kind": model.kind, "model": str(model.path), "epoch": model.epoch, "inputs": specs,
        "onnx": str(onnx), "reference": str(reference), "samples": SAMPLES, "seed": SEED,
        "opset": OPSET,
    }  # fmt: skip
    say(f"converting to ONNX in the {env} environment (and running the original on {SAMPLES} "
        "sample inputs)")  # fmt: skip
    result = envs.run_worker(env, f"convert_{env}", job, job_dir)
    if not onnx.is_file() or not reference.is_file():
        raise CompileError(f"the {env} converter finished without writing the ONNX model")
    sess = check.session(onnx)
    resolved = check.match_inputs(sess, result["inputs"])
    say(f"checking the ONNX against {env} on {SAMPLES} sample inputs")
    report = check.compare(
        onnx, reference, precision, [r["name"] for r in resolved], result["outputs"]
    )
    shutil.rmtree(job_dir, ignore_errors=True)
    return resolved, report
