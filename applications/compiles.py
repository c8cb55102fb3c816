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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils import timezone

import modelcompile
from applications.assets import open_asset, store_asset
from applications.models import Asset, CompiledModel, PatchVersion
from applications.resolve import ASSET_PATH
from console.status import ModelCompileStatus as CompileStatus
from devicelink.apps import ApplicationSpec, AssetRef

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


def compile_patch(patch: PatchVersion) -> list[CompiledModel]:
    """The compiles to start for the model assets of a newly registered patch, so that its
    first deployment finds them ready."""
    package = json.loads(patch.manifest_text).get("nodePackage", {})
    by_sha = {asset.sha256: asset for asset in patch.assets.all()}
    started = []
    for item in package.get("assets") or []:
        for implementation in item.get("implementations") or []:
            if implementation.get("type") != "model":
                continue
            source = by_sha.get(str(implementation.get("assetUri", "")).split(".", 1)[0])
            descriptor_asset = by_sha.get(
                str(implementation.get("descriptorUri", "")).split(".", 1)[0]
            )
            if source is None or descriptor_asset is None:
                continue
            with open_asset(descriptor_asset) as handle:
                try:
                    descriptor = json.loads(handle.read() or b"{}")
                except ValueError:
                    continue  # registration validated it; nothing to compile from
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
        return f"Compiling the model of {node} ({name} to ONNX){step}{more}."

    def failed_text(self) -> str:
        return "; ".join(
            f"The model of {node} could not be compiled: {compiled.message}"
            for node, compiled in self.failed
        )


def apply_compiles(spec: ApplicationSpec) -> Compiles:
    """Point every model node of ``spec`` whose model is compiled at the compiled asset; the
    compiles still running or failed."""
    result = Compiles(pending=[], failed=[], to_start=[])
    for node in spec.nodes:
        if node.kind != "model":
            continue
        for index, ref in enumerate(node.assets):
            if not needs_compile(ref.descriptor):
                continue
            source = Asset.objects.get(sha256=ref.sha256)
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


def compiled_ref(ref: AssetRef, result: Asset) -> AssetRef:
    return ref.model_copy(
        update={
            "sha256": result.sha256,
            "size": result.size,
            "path": ASSET_PATH.format(sha256=result.sha256),
        }
    )


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
    try:
        archive = work / "model.tar.gz"
        with open_asset(compiled.source) as source, archive.open("wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)
        result = modelcompile.compile_model(
            archive,
            framework=compiled.framework,
            inputs=inputs,
            work_dir=work / "out",
            precision=compiled.precision,
            progress=progress,
        )
        with result.archive.open("rb") as handle:
            stored = store_asset(handle, filename=f"{compiled.source.sha256}.onnx.tar.gz")
    except modelcompile.CompileError as exc:
        logger.warning("Compiling model %s failed: %s", compiled.source.sha256, exc)
        CompiledModel.objects.filter(pk=compiled.pk).update(
            status=CompileStatus.FAILED,
            message=str(exc),
            framework_missing=isinstance(exc, modelcompile.FrameworkMissing),
            finished=timezone.now(),
        )
        return
    finally:
        shutil.rmtree(work, ignore_errors=True)
    CompiledModel.objects.filter(pk=compiled.pk).update(
        status=CompileStatus.SUCCEEDED,
        result=stored.asset,
        verification=result.check,
        progress="",
        finished=timezone.now(),
    )
