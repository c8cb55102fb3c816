"""Loading a model node's model: unpacking its asset, checking the descriptor's inputs against
the model, and opening an onnxruntime session on the best execution provider the host has."""

from __future__ import annotations

import contextlib
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
# The most a model archive may unpack to. It unpacks into the instance's runtime folder, in
# shared memory (RAM) on most appliances: a small archive that declares gigabytes must be refused
# before it is written, not when the memory is gone.
UNPACK_LIMIT_ENV = "VANTAGE_AGENT_MODEL_UNPACK_MIB"
DEFAULT_UNPACK_MIB = 1024
# Reading headers stops here: the archive is refused anyway, and the figure says "more than".
_SCAN_FACTOR = 16


def unpack_limit() -> int:
    """The unpacked-size limit of a model archive, in bytes (``VANTAGE_AGENT_MODEL_UNPACK_MIB``)."""
    raw = os.environ.get(UNPACK_LIMIT_ENV, "")
    try:
        mib = float(raw) if raw.strip() else DEFAULT_UNPACK_MIB
    except ValueError:
        raise StartupError(f"{UNPACK_LIMIT_ENV}={raw!r} is not a number of MiB") from None
    return int(mib * 1024**2)


def _size(size: float) -> str:
    return f"{size / 1024**3:.1f} GiB" if size >= 1024**3 else f"{size / 1024**2:.0f} MiB"


def unpack(archive: Path, folder: Path, limit: int | None = None) -> Path:
    """Put the model asset into ``folder`` (emptied first); the path of its ``.onnx``.

    The members' declared sizes are added up before anything is written: over ``limit``
    (``unpack_limit()`` when None) or over the free space of ``folder``'s disk, the archive is
    refused. While it is written, the bytes that really land are counted as well (a header that
    lies, an archive that changed since it was read), and writing stops at the limit."""
    limit = unpack_limit() if limit is None else limit
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if not archive.is_file():
        raise StartupError(f"the model archive {archive.name} is missing")
    try:
        declared = _declared_bytes(archive, limit * _SCAN_FACTOR)
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        if archive.suffix == ".onnx":
            _fits(archive.name, archive.stat().st_size, limit, folder)
            target = folder / archive.name
            shutil.copyfile(archive, target)
            return target
        raise StartupError(
            f"the model archive {archive.name} is not a .tar.gz archive (nor an .onnx model)"
        ) from None
    _fits(archive.name, declared, limit, folder)
    try:
        _extract(archive, folder, limit)
    except tarfile.FilterError as exc:
        raise StartupError(f"the model archive {archive.name} is unsafe: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise StartupError(f"the model archive {archive.name} cannot be unpacked: {exc}") from None
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise StartupError(
            f"the model archive {archive.name} cannot be unpacked into {folder.parent}: "
            f"{exc.strerror or exc}"
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


def _declared_bytes(archive: Path, stop_at: int) -> int:
    """What the archive's file members say they unpack to (reading stops past ``stop_at``)."""
    total = 0
    try:
        with tarfile.open(archive, "r|gz") as tar:
            for member in tar:
                total += member.size if member.isfile() else 0
                if total > stop_at:
                    break
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        if total:  # the data behind a header ran out (a bomb's header, cut short)
            return total
        raise
    return total


def _fits(name: str, declared: int, limit: int, folder: Path) -> None:
    if declared > limit:
        more = "more than " if declared > limit * _SCAN_FACTOR else ""
        raise StartupError(
            f"the model archive {name} declares {more}{_size(declared)} unpacked; the limit "
            f"is {_size(limit)} ({UNPACK_LIMIT_ENV})"
        )
    free = shutil.disk_usage(folder).free
    if declared > free:
        raise StartupError(
            f"the model archive {name} unpacks to {_size(declared)}, but only {_size(free)} "
            f"is free in {folder.parent}"
        )


def _extract(archive: Path, folder: Path, limit: int) -> None:
    """Extract with the ``data`` filter (no absolute names, no links out of the folder, no
    devices or FIFOs, no set-user-id bits), counting what is really written."""
    written = 0
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            if member.isfile() and written + member.size > limit:
                raise StartupError(
                    f"the model archive {archive.name} unpacks to more than its headers "
                    f"declared; stopped at the limit of {_size(limit)} ({UNPACK_LIMIT_ENV})"
                )
            tar.extract(member, folder, filter="data")
            if member.isfile():
                with contextlib.suppress(OSError):
                    written += os.lstat(folder / member.name).st_size


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
