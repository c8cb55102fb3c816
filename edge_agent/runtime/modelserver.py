"""The model node process: one ONNX model in onnxruntime, serving ``call()`` on a Unix socket.

Run by the agent as ``python -m edge_agent.runtime.modelserver --config FILE`` (a
``ModelServerConfig``). The protocol is described in :mod:`edge_agent.runtime.modelwire`.

Startup (loading the model is `modelload.py`):

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

Serving: one thread per connection; a lone inference runs on every thread, overlapping ones on
one thread each, at most ``workers`` at a time (modelsched.py). A watchdog ends the
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
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from edge_agent.runtime import report
from edge_agent.runtime.config import ModelServerConfig, load
from edge_agent.runtime.modelload import (
    ORT_TYPES,
    StartupError,
    default_threads,
    load_session,
    match_inputs,
    unpack,
)
from edge_agent.runtime.modelsched import CpuBudget, Sessions, plan
from edge_agent.runtime.modelwire import (
    BUFFER_PREFIX,
    LineChannel,
    OwnBuffer,
    PeerBuffer,
    ProtocolError,
    layout,
)
from edge_agent.runtime.tensors import DTYPES, InputSpec, check_input

logger = logging.getLogger("edge_agent.runtime.modelserver")

EXIT_STARTUP = 2
EXIT_HANG = 3


class ModelServer:
    def __init__(
        self,
        config: ModelServerConfig,
        sessions: Sessions,
        inputs: list[tuple[InputSpec, str]],
        providers: list[str],
        precision: str,
        threads: int,
        budget: CpuBudget,
    ) -> None:
        self.config = config
        self.node = config.node
        self.runtime_dir = Path(config.runtime_dir)
        self.socket_path = self.runtime_dir / config.socket
        self.sessions = sessions
        self.inputs = inputs
        self.outputs = [
            {"name": out.name, "dtype": ORT_TYPES.get(out.type, out.type)}
            for out in sessions.parallel.get_outputs()
        ]
        self.providers = providers
        self.precision = precision
        self.threads = threads
        self.budget = budget
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
        at_once = self.budget.concurrent
        report.status(
            "RUNNING",
            f"{', '.join(self.providers)}, {self.precision}, {threads}"
            + (f", up to {at_once} inferences at once" if at_once > 1 else ""),
        )
        logger.info("serving %s on %s", self.node, self.socket_path.name)
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
        with self.budget.slot() as whole:
            session = self.budget.session(self.sessions, whole)
            ident = threading.get_ident()
            started = time.monotonic()
            with self._lock:
                self._running[ident] = started
            try:
                results = session.run(None, feeds)
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
    parallel, providers, precision = load_session(model, config, threads)
    inputs = match_inputs(config.inputs, parallel.get_inputs())
    concurrent, split = plan(threads, config.workers, providers == ["CPUExecutionProvider"])
    single = load_session(model, config, 1)[0] if split else None
    budget = CpuBudget(threads if split else concurrent, concurrent, split)
    _remove_stale_buffers(runtime_dir, config.node)
    sessions = Sessions(parallel, single)
    server = ModelServer(config, sessions, inputs, providers, precision, threads, budget)
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
