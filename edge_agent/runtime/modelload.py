"""Loading a model node's model: unpacking its asset, checking the descriptor's inputs against
the model, and opening an onnxruntime session on the best execution provider the host has."""

from __future__ import annotations

import logging
import os
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import Any

from edge_agent.runtime.config import ModelServerConfig, TensorSpec
from edge_agent.runtime.tensors import InputSpec, format_shape

logger = logging.getLogger("edge_agent.runtime.modelserver")

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
ORT_TYPES = {
    "tensor(bool)": "bool", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(int16)": "int16", "tensor(uint16)": "uint16", "tensor(int32)": "int32",
    "tensor(uint32)": "uint32", "tensor(int64)": "int64", "tensor(uint64)": "uint64",
    "tensor(float16)": "float16", "tensor(float)": "float32", "tensor(double)": "float64",
}  # fmt: skip


class StartupError(Exception):
    """The node cannot start. The message is what the operator reads."""


# --- the model asset --------------------------------------------------------------------------
def unpack(archive: Path, folder: Path) -> Path:
    """Put the model asset into ``folder`` (emptied first); the path of its ``.onnx``."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if not archive.is_file():
        raise StartupError(f"the model archive {archive.name} is missing")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            # The "data" filter refuses absolute paths, links out of the folder and devices.
            tar.extractall(folder, filter="data")
    except tarfile.FilterError as exc:
        raise StartupError(f"the model archive {archive.name} is unsafe: {exc}") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        if archive.suffix == ".onnx":
            target = folder / archive.name
            shutil.copyfile(archive, target)
            return target
        raise StartupError(
            f"the model archive {archive.name} is not a .tar.gz archive (nor an .onnx model)"
        ) from None
    # "._name.onnx" are the macOS resource forks that its tar adds next to each file.
    models = sorted(
        path for path in folder.rglob("*.onnx")
        if path.is_file() and not path.name.startswith("._")
    )  # fmt: skip
    if not models:
        raise StartupError(f"the model archive {archive.name} holds no .onnx model")
    if len(models) > 1:
        names = ", ".join(str(path.relative_to(folder)) for path in models)
        raise StartupError(
            f"the model archive {archive.name} holds several .onnx models ({names}); "
            "a model node runs exactly one"
        )
    return models[0]


# --- the descriptor against the model ----------------------------------------------------------
def match_inputs(specs: list[TensorSpec], model_inputs: list[Any]) -> list[tuple[InputSpec, str]]:
    """Each model input (in the model's order) as ``call()`` takes it, with the model's name for
    it; StartupError naming every mismatch."""
    by_name = {node.name: node for node in model_inputs}
    problems: list[str] = []
    matched: dict[str, tuple[InputSpec, str]] = {}
    for spec in specs:
        node = by_name.get(spec.name) or by_name.get(spec.name + ":0")
        if node is None:
            available = ", ".join(
                f"{n.name} ({ORT_TYPES.get(n.type, n.type)} {format_shape(n.shape)})"
                for n in model_inputs
            )
            problems.append(
                f"descriptor input '{spec.name}' is not an input of the model "
                f"(the model's inputs: {available})"
            )
            continue
        dtype = ORT_TYPES.get(node.type)
        if dtype is None:
            problems.append(f"model input '{node.name}' has type {node.type}, which is unsupported")
            continue
        if spec.type is not None and spec.type != dtype:
            problems.append(
                f"input '{spec.name}': the descriptor says type {spec.type}, the model says {dtype}"
            )
        model_shape = list(node.shape)
        fits = len(spec.shape) == len(model_shape) and all(
            want <= 0 or not isinstance(have, int) or have < 0 or want == have
            for want, have in zip(spec.shape, model_shape, strict=True)
        )
        if not fits:
            problems.append(
                f"input '{spec.name}': the descriptor says shape {format_shape(spec.shape)}, "
                f"the model says {format_shape(model_shape)}"
            )
            continue
        # A descriptor dimension of 0 or less leaves it as the model has it (any size when
        # symbolic there).
        shape = tuple(
            want if want > 0 else (have if isinstance(have, int) and have > 0 else -1)
            for want, have in zip(spec.shape, model_shape, strict=True)
        )
        matched[node.name] = (InputSpec(spec.name, dtype, shape), node.name)
    for node in model_inputs:
        if node.name not in matched and not any(
            node.name in (s.name, s.name + ":0") for s in specs
        ):
            problems.append(
                f"model input '{node.name}' ({ORT_TYPES.get(node.type, node.type)} "
                f"{format_shape(list(node.shape))}) is not in the descriptor"
            )
    if problems:
        raise StartupError("the descriptor does not fit the model: " + "; ".join(problems))
    return [matched[node.name] for node in model_inputs]


def default_threads() -> int:
    """Every CPU this process may run on: on a CPU appliance inference is what limits the frame
    rate, and the cameras, code nodes and displays (light, at a higher priority: the agent runs
    model servers niced) take what they need first."""
    return max(1, len(os.sched_getaffinity(0)))


def load_session(
    model: Path, config: ModelServerConfig, threads: int
) -> tuple[Any, list[str], str]:
    """The onnxruntime session, the providers in use, and the precision it runs at."""
    import onnxruntime as ort  # here so that a bad archive fails fast, before this import

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # onnxruntime writes its messages to stderr in its own format, where the agent reads log
    # lines. This module reports a session's failures itself (inferences raise), so only the
    # process-wide errors (a GPU provider that fails to load) are left to onnxruntime.
    ort.set_default_logger_severity(3)
    options.log_severity_level = 4
    available = ort.get_available_providers()
    providers: list[tuple[str, dict[str, Any]]] = []
    if "TensorrtExecutionProvider" in available:
        trt = {
            "trt_fp16_enable": config.precision == "FP16",
            "trt_int8_enable": config.precision == "INT8",
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(model.parent / "trt-cache"),
        }
        providers.append(("TensorrtExecutionProvider", trt))
    if "CUDAExecutionProvider" in available:
        providers.append(("CUDAExecutionProvider", {}))
    providers.append(("CPUExecutionProvider", {}))
    try:
        session = ort.InferenceSession(
            str(model),
            sess_options=options,
            providers=[name for name, _ in providers],
            provider_options=[opts for _, opts in providers],
        )
    except Exception as exc:
        raise StartupError(f"the model {model.name} fails to load: {exc}") from None
    in_use = list(session.get_providers())
    precision = "INT8" if config.precision == "INT8" else "FP32"
    if config.precision == "FP16":
        if "TensorrtExecutionProvider" in in_use:
            precision = "FP16"
        else:
            logger.warning(
                "precision FP16 was asked for, but %s cannot run this model in FP16: it runs "
                "in FP32",
                ", ".join(in_use),
            )
    return session, in_use, precision


# --- serving ----------------------------------------------------------------------------------
