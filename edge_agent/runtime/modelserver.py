"""The model node process: one ONNX model in onnxruntime, serving ``call()`` on a Unix socket.

Run by the agent as ``python -m edge_agent.runtime.modelserver --config FILE`` (a
``ModelServerConfig``). The protocol is described in :mod:`edge_agent.runtime.modelwire`.

Startup:

- The model asset is unpacked into ``model-<node>/`` in the runtime folder. The asset is a
  ``.tar.gz`` that holds exactly one ``.onnx`` (other files, such as external weights, may sit
  next to it); a bare ``.onnx`` file is accepted too.
- The mlModelDescriptor inputs are checked against the model's inputs. A descriptor name matches
  a model input of the same name, or of that name plus ``:0`` (TensorFlow's names). Shapes must
  agree except where a dimension of the model is symbolic, and a descriptor type must equal the
  model's element type. Descriptor dimensions are what ``call()`` enforces.
- Execution providers are those that onnxruntime offers, in the order TensorRT, CUDA, CPU.
  ``FP16`` runs as FP16 on TensorRT only; elsewhere the model runs in FP32 and the log says so.

Any startup failure is status ERROR with the reason and exit code 2. Once the socket listens, the
status is RUNNING, with the providers, precision and threads in the message.

Serving: one thread per connection; at most ``workers`` inferences at a time. A watchdog ends the
process (status ERROR, exit code 3) when an inference runs longer than ``hang_s``. onnxruntime
cannot be interrupted safely, and the agent restarts the node. Metrics every
``metrics_interval_s``: ``calls``, ``errors``, ``inference_ms_p50``/``_p99`` (last interval),
``providers`` and ``wire_bytes``, the bytes that passed over the sockets both ways. The last lets
a test prove that tensors go through shared memory and not through the socket.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tarfile
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from edge_agent.runtime import report
from edge_agent.runtime.config import ModelServerConfig, TensorSpec, load
from edge_agent.runtime.modelwire import (
    BUFFER_PREFIX,
    DTYPES,
    InputSpec,
    LineChannel,
    OwnBuffer,
    PeerBuffer,
    ProtocolError,
    check_input,
    format_shape,
    layout,
)

logger = logging.getLogger("edge_agent.runtime.modelserver")

EXIT_STARTUP = 2
EXIT_HANG = 3
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
        if "type" in spec.model_fields_set and spec.type != dtype:
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
    """Half the CPUs: the other half decodes the cameras and runs the code nodes."""
    return max(1, (os.cpu_count() or 2) // 2)


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
    precision = "FP32"
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
class ModelServer:
    def __init__(
        self,
        config: ModelServerConfig,
        session: Any,
        inputs: list[tuple[InputSpec, str]],
        providers: list[str],
        precision: str,
        threads: int,
    ) -> None:
        self.config = config
        self.node = config.node
        self.runtime_dir = Path(config.runtime_dir)
        self.socket_path = self.runtime_dir / config.socket
        self.session = session
        self.inputs = inputs
        self.outputs = [
            {"name": out.name, "dtype": ORT_TYPES.get(out.type, out.type)}
            for out in session.get_outputs()
        ]
        self.providers = providers
        self.precision = precision
        self.threads = threads
        self._workers = threading.Semaphore(max(1, config.workers))
        self._lock = threading.Lock()
        self._running: dict[int, float] = {}  # thread id → when its inference started
        self._calls = self._errors = self._wire_bytes = 0
        self._durations: list[float] = []
        self._buffers: set[OwnBuffer] = set()
        self._listener: socket.socket | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def listen(self) -> None:
        self.socket_path.unlink(missing_ok=True)  # a stale one from a previous run
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        # The sandboxed code node runs as another user.
        os.chmod(self.socket_path, 0o666)  # noqa: S103
        listener.listen(64)
        self._listener = listener

    def serve_forever(self, stop: threading.Event) -> None:
        assert self._listener is not None
        threading.Thread(target=self._watchdog, name="watchdog", daemon=True).start()
        threading.Thread(target=self._metrics, args=(stop,), name="metrics", daemon=True).start()
        threading.Thread(target=self._accept, name="accept", daemon=True).start()
        threads = f"{self.threads} thread" + ("s" if self.threads != 1 else "")
        report.status("RUNNING", f"{', '.join(self.providers)}, {self.precision}, {threads}")
        logger.info(
            "serving %s on %s (%d worker%s)", self.node, self.socket_path.name,
            self.config.workers, "s" if self.config.workers != 1 else "",
        )  # fmt: skip
        stop.wait()
        self.cleanup()

    def cleanup(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self.socket_path.unlink(missing_ok=True)
        with self._lock:
            buffers = list(self._buffers)
        for buffer in buffers:
            buffer.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # closed at shutdown
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    # --- one connection ---------------------------------------------------------------------
    def _serve(self, sock: socket.socket) -> None:
        channel = LineChannel(sock)
        peer = PeerBuffer(self.runtime_dir)
        out = OwnBuffer(self.runtime_dir, f"out-{_safe(self.node)}")
        with self._lock:
            self._buffers.add(out)
        counted = 0
        try:
            while True:
                try:
                    request = channel.receive()
                    if request is None:
                        return
                    reply = self._handle(request, peer, out)
                except ProtocolError as exc:
                    channel.send(_error("ProtocolError", str(exc)))
                    return
                channel.send(reply)
                with self._lock:
                    self._wire_bytes += channel.bytes_in + channel.bytes_out - counted
                counted = channel.bytes_in + channel.bytes_out
        except OSError:
            return  # the client went away (after a timeout, for one)
        finally:
            with self._lock:
                self._wire_bytes += channel.bytes_in + channel.bytes_out - counted
                self._buffers.discard(out)
            with contextlib.suppress(OSError):
                sock.close()
            peer.close()
            out.close()

    def _handle(self, request: dict[str, Any], peer: PeerBuffer, out: OwnBuffer) -> dict[str, Any]:
        op = request.get("op")
        if op == "hello":
            return {
                "ok": True,
                "node": self.node,
                "inputs": [spec.to_json() for spec, _ in self.inputs],
                "outputs": self.outputs,
            }
        if op != "run":
            raise ProtocolError(f"unknown op {op!r}")
        with self._lock:
            self._calls += 1
        try:
            feeds = self._feeds(request, peer)
        except ValueError as exc:
            self._count_error()
            return _error("ValueError", str(exc))
        with self._workers:
            ident = threading.get_ident()
            started = time.monotonic()
            with self._lock:
                self._running[ident] = started
            try:
                results = self.session.run(None, feeds)
            except Exception as exc:
                self._count_error()
                logger.warning("an inference failed: %s", exc)
                return _error("RuntimeError", f"the inference failed: {exc}")
            finally:
                with self._lock:
                    self._running.pop(ident, None)
            elapsed_ms = (time.monotonic() - started) * 1000
        del feeds  # views into the client's buffer
        try:
            outputs = self._write(results, out)
        except ValueError as exc:
            self._count_error()
            return _error("RuntimeError", str(exc))
        with self._lock:
            self._durations.append(elapsed_ms)
        return {
            "ok": True,
            "buffer": out.name,
            "outputs": outputs,
            "inference_ms": round(elapsed_ms, 3),
        }

    def _feeds(self, request: dict[str, Any], peer: PeerBuffer) -> dict[str, np.ndarray]:
        """The model's inputs as views into the client's buffer. ValueError when they do not
        fit the model; ProtocolError for a malformed request."""
        try:
            buffer = str(request["buffer"])
            given = {str(t["name"]): t for t in request["inputs"]}
            described = {
                name: (np.dtype(t["dtype"]), tuple(int(d) for d in t["shape"]), int(t["offset"]))
                for name, t in given.items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"a malformed run request: {exc}") from None
        known = {spec.name for spec, _ in self.inputs}
        for name in described:
            if name not in known:
                raise ValueError(f"model node {self.node} has no input {name!r}")
        feeds = {}
        for spec, model_name in self.inputs:
            if spec.name not in described:
                raise ValueError(f"input '{spec.name}' of model node {self.node} is missing")
            dtype, shape, offset = described[spec.name]
            # The client casts what may be cast; here the types must be exact.
            if check_input(self.node, spec, dtype, shape) or dtype.name not in DTYPES:
                raise ValueError(
                    f"input '{spec.name}' of model node {self.node} must be {spec.dtype}; "
                    f"given {dtype.name}"
                )
            feeds[model_name] = peer.view(buffer, dtype, shape, offset)
        return feeds

    def _write(self, results: list[Any], out: OwnBuffer) -> list[dict[str, Any]]:
        arrays = []
        for meta, value in zip(self.outputs, results, strict=True):
            array = np.ascontiguousarray(value)
            if array.dtype.name not in DTYPES:
                raise ValueError(
                    f"output '{meta['name']}' has type {array.dtype}, which call() cannot return"
                )
            arrays.append(array)
        offsets, size = layout([(a.dtype, a.shape) for a in arrays])
        out.ensure(size)
        described = []
        for array, offset in zip(arrays, offsets, strict=True):
            np.copyto(out.view(array.dtype, array.shape, offset), array)
            described.append(
                {"dtype": array.dtype.name, "shape": list(array.shape), "offset": offset}
            )
        return described

    def _count_error(self) -> None:
        with self._lock:
            self._errors += 1

    # --- watchdog and metrics -----------------------------------------------------------------
    def _watchdog(self) -> None:
        hang_s = self.config.hang_s
        while True:
            time.sleep(min(0.1, hang_s / 4))
            with self._lock:
                oldest = min(self._running.values(), default=None)
            if oldest is not None and time.monotonic() - oldest > hang_s:
                self.abandon()

    def abandon(self) -> None:
        """End the process: an inference hangs, and nothing can stop it but the exit."""
        message = f"an inference ran longer than {self.config.hang_s:g} s and was abandoned"
        logger.error(message)
        report.status("ERROR", message)
        self.cleanup()
        sys.stderr.flush()
        os._exit(EXIT_HANG)

    def _metrics(self, stop: threading.Event) -> None:
        while not stop.wait(self.config.metrics_interval_s):
            with self._lock:
                durations, self._durations = self._durations, []
                values: dict[str, Any] = {
                    "calls": self._calls,
                    "errors": self._errors,
                    "wire_bytes": self._wire_bytes,
                }
            p50 = p99 = None
            if durations:
                p50, p99 = (round(float(v), 3) for v in np.percentile(durations, [50, 99]))
            values.update(inference_ms_p50=p50, inference_ms_p99=p99, providers=self.providers)
            report.metrics(values)


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"type": kind, "message": message}}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:40]


def _remove_stale_buffers(runtime_dir: Path, node: str) -> None:
    """Output buffers left by a previous run of this node (one that was killed)."""
    for path in runtime_dir.glob(f"{BUFFER_PREFIX}out-{_safe(node)}-*"):
        with contextlib.suppress(OSError):
            path.unlink()


def start(config: ModelServerConfig) -> ModelServer:
    runtime_dir = Path(config.runtime_dir)
    model = unpack(Path(config.model_archive), runtime_dir / f"model-{config.node}")
    threads = config.threads or default_threads()
    session, providers, precision = load_session(model, config, threads)
    inputs = match_inputs(config.inputs, session.get_inputs())
    _remove_stale_buffers(runtime_dir, config.node)
    server = ModelServer(config, session, inputs, providers, precision, threads)
    try:
        server.listen()
    except OSError as exc:
        raise StartupError(f"cannot listen on {config.socket}: {exc.strerror}") from None
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A model node: onnxruntime serving call().")
    parser.add_argument("--config", required=True, help="a ModelServerConfig JSON file")
    args = parser.parse_args(argv)
    report.setup_logging()
    try:
        config = load(ModelServerConfig, args.config)
    except (OSError, ValidationError) as exc:
        message = f"bad configuration: {exc}"
        logger.error(message)
        report.status("ERROR", message)
        return EXIT_STARTUP
    try:
        server = start(config)
    except StartupError as exc:
        logger.error(str(exc))
        report.status("ERROR", str(exc))
        return EXIT_STARTUP
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.serve_forever(stop)
    return 0


if __name__ == "__main__":
    code = main()
    # An inference may still be running in onnxruntime, whose threads abort the process when
    # the interpreter is torn down under them: leave without the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
