"""Model assets compiled for the appliance, as Panorama compiled them with SageMaker Neo.

A model package holds the raw framework model (PyTorch, TensorFlow, MXNet) as its
``.tar.gz`` asset; the appliance runs ONNX. A compile (``CompiledModel``) starts when a package
with such a model is registered, and a deployment that needs one waits for it
(``DEPLOYMENT_PENDING``, "Compiling the model of …") as Panorama's did; the spec the device gets
names the compiled asset instead of the raw one. The compile itself runs in the Celery worker
(``applications.tasks.compile_model`` calls ``run_compile``), in the framework's own
environment (``modelcompile``). Callers queue the compiles this module says to start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils import timezone

import modelcompile
from applications import calibration
from applications.assets import implementations, open_asset, read_descriptor, store_asset
from applications.calibration import CalibrationError
from applications.models import Asset, CompiledModel, PatchVersion
from applications.resolve import ASSET_PATH
from core.status import ModelCompileStatus as CompileStatus
from devicelink.apps import ApplicationSpec, AssetRef
from modelcompile import check
from modelcompile.archive import pack
from modelcompile.quantize import AccuracyReport, image_inputs, quantize

logger = logging.getLogger(__name__)

#: Frameworks compiled to ONNX; an ONNX model runs as it is.
COMPILED_FRAMEWORKS = ("PYTORCH", "TENSORFLOW", "MXNET")
FRAMEWORK_NAMES = {"PYTORCH": "PyTorch", "TENSORFLOW": "TensorFlow", "MXNET": "MXNet"}


def model_body(descriptor: dict[str, Any]) -> dict[str, Any]:
    body = descriptor.get("mlModelDescriptor") if isinstance(descriptor, dict) else None
    return body if isinstance(body, dict) else {}


def needs_compile(descriptor: dict[str, Any]) -> bool:
    return str(model_body(descriptor).get("framework", "")).upper() in COMPILED_FRAMEWORKS


def _inputs_key(inputs: list[Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def compile_for(
    source: Asset, descriptor: dict[str, Any], precision: str = "FP32"
) -> tuple[CompiledModel, bool]:
    """The compile of ``source`` for this descriptor's inputs, and whether to start it: it is
    new, or it failed only because its framework was missing and the framework is there now."""
    body = model_body(descriptor)
    inputs = body.get("inputs") or []
    compiled, created = CompiledModel.objects.get_or_create(
        source=source,
        inputs_key=_inputs_key(inputs),
        precision=precision,
        compiler_version=modelcompile.COMPILER_VERSION,
        defaults={"framework": str(body.get("framework", "")).upper(), "inputs": inputs},
    )
    retry = (
        compiled.status == CompileStatus.FAILED
        and compiled.framework_missing
        and modelcompile.framework_available(compiled.framework) is None
    )
    if retry:
        CompiledModel.objects.filter(pk=compiled.pk).update(
            status=CompileStatus.PENDING, progress="", message="", framework_missing=False
        )
        compiled.refresh_from_db()
    return compiled, created or retry


def model_assets(patch: PatchVersion) -> list[tuple[Asset, dict[str, Any]]]:
    """The patch's model assets, each with its descriptor document."""
    found = []
    for implementation in implementations(patch):
        source, descriptor_asset = implementation.asset, implementation.descriptor
        if implementation.type != "model" or source is None or descriptor_asset is None:
            continue
        try:
            descriptor = read_descriptor(descriptor_asset)
        except ValueError:
            continue  # registration validated it; nothing to compile from
        found.append((source, descriptor))
    return found


def compile_patch(patch: PatchVersion) -> list[CompiledModel]:
    """The compiles to start for the model assets of a newly registered patch, so that its
    first deployment finds them ready."""
    started = []
    for source, descriptor in model_assets(patch):
        if needs_compile(descriptor):
            compiled, start = compile_for(source, descriptor)
            if start:
                started.append(compiled)
    return started


@dataclass
class Compiles:
    """What a deployment's model nodes wait for: (node, compile) pairs."""

    pending: list[tuple[str, CompiledModel]]
    failed: list[tuple[str, CompiledModel]]
    to_start: list[CompiledModel]

    def waiting_text(self) -> str:
        node, compiled = self.pending[0]
        step = f": {compiled.progress}" if compiled.progress else ""
        more = f" (and {len(self.pending) - 1} more)" if len(self.pending) > 1 else ""
        name = FRAMEWORK_NAMES.get(compiled.framework, compiled.framework)
        target = "INT8" if compiled.precision == "INT8" else "ONNX"
        return f"Compiling the model of {node} ({name} to {target}){step}{more}."

    def failed_text(self) -> str:
        return "; ".join(
            f"The model of {node} could not be compiled: {compiled.message}"
            for node, compiled in self.failed
        )


def apply_compiles(spec: ApplicationSpec) -> Compiles:
    """Point every model node of ``spec`` whose model is compiled at the compiled asset (the
    INT8 one where the operator chose INT8 and it succeeded); the compiles still running or
    failed."""
    result = Compiles(pending=[], failed=[], to_start=[])
    for node in spec.nodes:
        if node.kind != "model":
            continue
        for index, ref in enumerate(node.assets):
            if ref.implementation_type != "model":
                continue
            source = Asset.objects.get(sha256=ref.sha256)
            int8 = int8_in_use(source, ref.descriptor)
            if int8 is not None and int8.status == CompileStatus.SUCCEEDED and int8.result:
                node.assets[index] = compiled_ref(ref, int8.result, precision="INT8")
                continue
            if int8 is not None and int8.status != CompileStatus.FAILED:
                result.pending.append((node.name, int8))  # asked for, not done yet: waited for
                continue
            if not needs_compile(ref.descriptor):
                continue
            compiled, start = compile_for(source, ref.descriptor)
            if start:
                result.to_start.append(compiled)
            if compiled.status == CompileStatus.SUCCEEDED and compiled.result is not None:
                node.assets[index] = compiled_ref(ref, compiled.result)
            elif compiled.status == CompileStatus.FAILED:
                result.failed.append((node.name, compiled))
            else:
                result.pending.append((node.name, compiled))
    return result


def compiled_ref(ref: AssetRef, result: Asset, precision: str = "") -> AssetRef:
    update: dict[str, Any] = {
        "sha256": result.sha256,
        "size": result.size,
        "path": ASSET_PATH.format(sha256=result.sha256),
    }
    if precision:  # the model node reports the precision it runs at
        body = {**model_body(ref.descriptor), "precisionMode": precision}
        update["descriptor"] = {**ref.descriptor, "mlModelDescriptor": body}
    return ref.model_copy(update=update)


# --- INT8, the operator's option -------------------------------------------------------------
class Int8Refused(Exception):
    """An INT8 compile cannot be asked for now; the message says why."""


def int8_in_use(source: Asset, descriptor: dict[str, Any]) -> CompiledModel | None:
    return CompiledModel.objects.filter(
        source=source,
        inputs_key=_inputs_key(model_body(descriptor).get("inputs") or []),
        precision="INT8",
        compiler_version=modelcompile.COMPILER_VERSION,
        in_use=True,
    ).first()


def request_int8(
    source: Asset, descriptor: dict[str, Any], calibration: dict[str, Any], threshold: float
) -> CompiledModel:
    """Ask for the model quantized to INT8, calibrated on ``calibration``'s frames and refused
    below ``threshold`` agreement with FP32; deployments use it once it succeeds. The caller
    queues it (``tasks.start_compile``)."""
    if not 0.0 <= threshold <= 1.0:
        raise Int8Refused(f"threshold {threshold}: the agreement with FP32 is from 0 to 1")
    body = model_body(descriptor)
    inputs = body.get("inputs") or []
    if not body:
        raise Int8Refused("the asset is not a model (no mlModelDescriptor)")
    key = {
        "source": source,
        "inputs_key": _inputs_key(inputs),
        "precision": "INT8",
        "compiler_version": modelcompile.COMPILER_VERSION,
    }
    running = CompiledModel.objects.filter(**key, status=CompileStatus.IN_PROGRESS).exists()
    if running:
        raise Int8Refused("an INT8 compile of this model is running: wait for it to finish")
    compiled, _ = CompiledModel.objects.update_or_create(
        **key,
        defaults={
            "framework": str(body.get("framework", "")).upper(),
            "inputs": inputs,
            "calibration": calibration,
            "threshold": threshold,
            "status": CompileStatus.PENDING,
            "progress": "",
            "message": "",
            "accuracy": {},
            "verification": {},
            "result": None,
            "in_use": True,
            "started": None,
            "finished": None,
        },
    )
    return compiled


def use_fp32(compiled: CompiledModel) -> None:
    """Deployments of this model go back to FP32 (the INT8 compile stays, to use again)."""
    CompiledModel.objects.filter(pk=compiled.pk).update(in_use=False)


# --- the compile itself (in the worker) ---------------------------------------------------------
def run_compile(compiled: CompiledModel) -> None:
    """Compile, check and store the model; the outcome is recorded on ``compiled``."""

    def progress(text: str) -> None:
        CompiledModel.objects.filter(pk=compiled.pk).update(progress=text[:255])

    inputs = [
        modelcompile.InputDecl(
            name=str(item.get("name", "")),
            shape=[int(d) for d in item.get("shape") or []],
            type=item.get("type"),
        )
        for item in compiled.inputs
    ]
    work = Path(tempfile.mkdtemp(prefix="vantage-compile-"))
    accuracy: dict[str, Any] = {}
    try:
        with open_asset(compiled.source) as source:
            # A bare .onnx upload is taken as it is (Panorama's archives are gzipped tarballs).
            archive = work / ("model.tar.gz" if source.read(2) == b"\x1f\x8b" else "model.onnx")
            source.seek(0)
            with archive.open("wb") as target:
                shutil.copyfileobj(source, target, 1024 * 1024)
        # INT8 starts from the FP32 ONNX (for an ONNX model: the model itself, checked).
        result = modelcompile.compile_model(
            archive,
            framework=compiled.framework,
            inputs=inputs,
            work_dir=work / "out",
            precision="FP32" if compiled.precision == "INT8" else compiled.precision,
            progress=progress,
        )
        packed = result.archive
        if compiled.precision == "INT8":
            packed, report = _quantized(compiled, result, work, progress)
            accuracy = report.to_dict()
        with packed.open("rb") as handle:
            stored = store_asset(handle, filename=f"{compiled.source.sha256}.onnx.tar.gz")
    except (modelcompile.CompileError, CalibrationError) as exc:
        logger.warning("Compiling model %s failed: %s", compiled.source.sha256, exc)
        refused = getattr(exc, "report", None)
        CompiledModel.objects.filter(pk=compiled.pk).update(
            status=CompileStatus.FAILED,
            message=str(exc),
            framework_missing=isinstance(exc, modelcompile.FrameworkMissing),
            accuracy=refused.to_dict() if refused is not None else {},
            finished=timezone.now(),
        )
        return
    finally:
        shutil.rmtree(work, ignore_errors=True)
    CompiledModel.objects.filter(pk=compiled.pk).update(
        status=CompileStatus.SUCCEEDED,
        result=stored.asset,
        verification=result.check,
        accuracy=accuracy,
        progress="",
        finished=timezone.now(),
    )


def _quantized(
    compiled: CompiledModel,
    result: modelcompile.CompileResult,
    work: Path,
    progress: Callable[[str], None],
) -> tuple[Path, AccuracyReport]:
    """The FP32 result quantized to INT8 on the calibration frames, and its report."""
    progress(f"reading {calibration.describe(compiled.calibration)}")
    frames = calibration.frames(compiled.calibration)
    model_inputs = check.model_inputs(check.session(result.onnx))
    if len(model_inputs) != 1 or len(result.inputs) != 1:
        raise modelcompile.CompileError(
            f"INT8 calibration from frames needs a model with one image input; this one has "
            f"{len(model_inputs)}"
        )
    declared = result.inputs[0]
    only = model_inputs[0]
    samples = image_inputs(frames, only["name"], declared.shape, only["type"])
    progress(f"quantizing to INT8 on {len(samples)} frames and checking it against FP32")
    quantized = work / "int8" / "model.onnx"
    quantized.parent.mkdir()
    report = quantize(result.onnx, quantized, samples, threshold=compiled.threshold or 0.0)
    return pack(quantized, work / "int8" / "model.tar.gz"), report
