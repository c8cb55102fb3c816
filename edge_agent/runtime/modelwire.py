"""The ``call()`` protocol between ``panoramasdk`` (a code node) and a model server (a model node).

Tensors never travel over the socket: they go through shared memory, and the socket carries
only small JSON lines that say where they are.

**Transport.** A Unix stream socket, ``model-<node>.sock`` in the instance's runtime folder. Each
message is one JSON object on one line (UTF-8, ended by ``\\n``, at most ``MAX_LINE`` bytes).
A connection carries one exchange at a time: a request, then its reply. A client that gives up
waiting for a reply closes the connection, so a late reply can never be taken for the answer to
the next request.

**Buffers.** Each side writes tensors into a file that it owns, mapped with ``mmap`` (the runtime
folder is in ``/dev/shm``, so this is shared memory). The other side maps that file read-only and
reads the tensors in place. A message names a buffer by its plain file name, because the two
sides see the runtime folder at different paths (a sandboxed code node sees it at
``/run/vantage``). Buffers are named ``.mw-…``. The client owns one input buffer per connection
and the server owns one output buffer per connection. An owner never resizes a file that the
other side may have mapped. When a buffer is too small, the owner creates a bigger file under a
new name and removes the old one. Each side removes its own files when the connection closes.
Tensors in a buffer start at ``ALIGN``-byte offsets and are C-contiguous, in native byte order.

**Messages** (client → server, then the server's reply)::

    {"op": "hello"}
    ← {"ok": true, "node": "detector",
       "inputs": [{"name": "image_tensor", "dtype": "uint8", "shape": [1, 300, 300, 3]}],
       "outputs": [{"name": "detection_boxes:0", "dtype": "float32"}, ...]}

    {"op": "run", "buffer": ".mw-in-…", "inputs": [
        {"name": "image_tensor", "dtype": "uint8", "shape": [1, 300, 300, 3], "offset": 0}]}
    ← {"ok": true, "buffer": ".mw-out-…", "inference_ms": 9.7,
       "outputs": [{"dtype": "float32", "shape": [1, 100, 4], "offset": 0}, ...]}

    any request ← {"ok": false, "error": {"type": "ValueError", "message": "..."}}

In ``hello``, an input's ``name`` is the name from the mlModelDescriptor, and those names are the
keys of ``call()``. In ``shape``, ``-1`` means that the dimension may have any size. Outputs are
listed in the model's order. The error ``type`` is ``ValueError`` for a request whose tensors do
not fit the model's inputs, ``RuntimeError`` when the inference itself fails, and
``ProtocolError`` for a malformed message (the server then closes the connection).
"""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
import re
import secrets
import select
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.runtime.tensors import DTYPES, InputSpec, conform, describe

MAX_LINE = 64 * 1024
ALIGN = 64
BUFFER_PREFIX = ".mw-"
_BUFFER_NAME = re.compile(r"\.mw-[A-Za-z0-9_.-]+")
# An idle connection is kept for the next call. There are at most this many, which is about the
# number of threads that one application runs calls from.
MAX_IDLE = 8


logger = logging.getLogger("panoramasdk")


class ProtocolError(Exception):
    """The other side sent something that does not follow this protocol."""


class _NotSent(ConnectionError):
    """The connection failed before the request was sent: nothing ran, so it may go again."""


def layout(shapes: list[tuple[np.dtype, tuple[int, ...]]]) -> tuple[list[int], int]:
    """Where each tensor starts in a buffer, and the buffer size that they need."""
    offsets, end = [], 0
    for dtype, shape in shapes:
        offsets.append(end)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        end += (nbytes + ALIGN - 1) // ALIGN * ALIGN
    return offsets, end


# --- buffers ------------------------------------------------------------------------------------
class OwnBuffer:
    """A buffer file that this side writes. It grows by being replaced by a bigger file with a new
    name, so that a mapping the other side holds is never cut short."""

    def __init__(self, folder: Path, tag: str) -> None:
        self.folder = folder
        self._stem = f"{BUFFER_PREFIX}{tag}-{secrets.token_hex(4)}"
        self._generation = 0
        self.name = ""
        self.map: mmap.mmap | None = None

    def ensure(self, size: int) -> mmap.mmap:
        if self.map is not None and len(self.map) >= size:
            return self.map
        old = self.map
        capacity = max(size, 2 * len(old) if old is not None else 0, mmap.PAGESIZE)
        capacity = (capacity + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        self._generation += 1
        name = f"{self._stem}-{self._generation}"
        fd = os.open(self.folder / name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            # The peer may run as another user (the sandboxed code node), so the mode is set
            # explicitly rather than left to the umask.
            os.fchmod(fd, 0o644)
            os.ftruncate(fd, capacity)
            mapping = mmap.mmap(fd, capacity, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self._drop()
        self.name, self.map = name, mapping
        return mapping

    def view(self, dtype: np.dtype, shape: tuple[int, ...], offset: int) -> np.ndarray:
        assert self.map is not None
        return np.ndarray(shape, dtype, self.map, offset)

    def _drop(self) -> None:
        if self.name:
            with contextlib.suppress(OSError):
                os.unlink(self.folder / self.name)
        if self.map is not None:
            # Views handed out may still use the old mapping; it is unmapped when they go.
            with contextlib.suppress(BufferError):
                self.map.close()
        self.name, self.map = "", None

    def close(self) -> None:
        self._drop()


class PeerBuffer:
    """The buffer file that the other side writes, mapped read-only. The mapping is kept until
    the other side names a different file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = ""
        self.map: mmap.mmap | None = None

    def view(self, name: str, dtype: np.dtype, shape: tuple[int, ...], offset: int) -> np.ndarray:
        """A read-only view of one tensor; ProtocolError when it is not inside the file."""
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if offset < 0 or offset % ALIGN:
            raise ProtocolError(f"tensor offset {offset} is not a multiple of {ALIGN}")
        if name != self.name or self.map is None or offset + nbytes > len(self.map):
            self._open(name)
        assert self.map is not None
        if offset + nbytes > len(self.map):
            raise ProtocolError(f"a tensor of {nbytes} bytes at {offset} is not inside {name}")
        return np.ndarray(shape, dtype, self.map, offset)

    def _open(self, name: str) -> None:
        # The name comes from the peer: a plain buffer name, never a path or a link.
        if not _BUFFER_NAME.fullmatch(name):
            raise ProtocolError(f"{name!r} is not a buffer name")
        try:
            fd = os.open(self.folder / name, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            raise ProtocolError(f"buffer {name}: {exc.strerror}") from None
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                raise ProtocolError(f"buffer {name} is empty")
            mapping = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ)
        finally:
            os.close(fd)
        self.close()
        self.name, self.map = name, mapping

    def close(self) -> None:
        if self.map is not None:
            with contextlib.suppress(BufferError):
                self.map.close()
        self.name, self.map = "", None


# --- lines ------------------------------------------------------------------------------------
class LineChannel:
    """JSON lines over a stream socket, counting the bytes that pass."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._pending = b""
        self.bytes_in = 0
        self.bytes_out = 0

    def send(self, document: dict[str, Any]) -> None:
        data = json.dumps(document, separators=(",", ":")).encode() + b"\n"
        self.sock.sendall(data)
        self.bytes_out += len(data)

    def receive(self, deadline: float | None = None) -> dict[str, Any] | None:
        """The next message; None when the peer closed the connection. TimeoutError when the
        deadline passes first; ProtocolError for a line that is not a JSON object."""
        while b"\n" not in self._pending:
            if len(self._pending) > MAX_LINE:
                raise ProtocolError(f"a message longer than {MAX_LINE} bytes")
            if deadline is None:
                self.sock.settimeout(None)
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.bytes_in += len(chunk)
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        try:
            document = json.loads(line)
        except ValueError:
            raise ProtocolError("a message that is not JSON") from None
        if not isinstance(document, dict):
            raise ProtocolError("a message that is not a JSON object")
        return document


# --- the client ---------------------------------------------------------------------------------
class _Connection:
    """One connection to the server, with its own input buffer and its mapping of the server's
    output buffer."""

    def __init__(self, client: ModelClient, deadline: float | None) -> None:
        self.client = client
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if deadline is not None:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
            sock.connect(str(client.socket_path))
        except TimeoutError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            raise client._not_running(exc) from None
        self.channel = LineChannel(sock)
        self.inputs = OwnBuffer(client.buffer_dir, "in")
        self.outputs = PeerBuffer(client.buffer_dir)
        try:
            hello = self.exchange({"op": "hello"}, deadline)
            self.specs = [InputSpec.from_json(doc) for doc in hello["inputs"]]
        except (KeyError, TypeError, ValueError) as exc:
            self.close()
            raise ConnectionError(f"model node {client.name} sent a bad hello: {exc}") from None
        except BaseException:
            self.close()
            raise

    def alive(self) -> bool:
        """Whether an idle connection is still usable: the server has not closed it (nor sent
        anything unasked, which would put the exchanges out of step)."""
        try:
            readable, _, _ = select.select([self.channel.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def exchange(self, request: dict[str, Any], deadline: float | None) -> dict[str, Any]:
        try:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.001)
            self.channel.sock.settimeout(remaining)
            self.channel.send(request)
        except TimeoutError:
            raise
        except OSError as exc:
            raise _NotSent(str(self.client._not_running(exc))) from None
        try:
            reply = self.channel.receive(deadline)
        except (TimeoutError, ProtocolError):
            raise
        except OSError as exc:
            raise self.client._not_running(exc) from None
        if reply is None:
            raise self.client._not_running("the connection closed")
        if not reply.get("ok"):
            error = reply.get("error") or {}
            message = str(error.get("message", "unknown error"))
            if error.get("type") == "ValueError":
                raise ValueError(message)
            raise RuntimeError(f"model node {self.client.name}: {message}")
        return reply

    def run(
        self, tensors: list[tuple[InputSpec, np.ndarray]], deadline: float | None
    ) -> tuple[np.ndarray, ...]:
        shapes = [(np.dtype(spec.dtype), array.shape) for spec, array in tensors]
        offsets, size = layout(shapes)
        self.inputs.ensure(size)
        described = []
        for (spec, array), (dtype, shape), offset in zip(tensors, shapes, offsets):  # noqa: B905
            # One copy into shared memory; the cast conform() allowed happens in the same pass.
            np.copyto(self.inputs.view(dtype, shape, offset), array, casting="unsafe")
            described.append(
                {"name": spec.name, "dtype": dtype.name, "shape": list(shape), "offset": offset}
            )
        request = {"op": "run", "buffer": self.inputs.name, "inputs": described}
        reply = self.exchange(request, deadline)
        try:
            results = []
            for output in reply["outputs"]:
                dtype = np.dtype(output["dtype"])
                if dtype.name not in DTYPES:
                    raise ProtocolError(f"an output of type {dtype.name}")
                shape = tuple(int(d) for d in output["shape"])
                view = self.outputs.view(reply["buffer"], dtype, shape, int(output["offset"]))
                results.append(view.copy())  # the caller's own; the buffer is reused next call
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"a bad reply: {exc}") from None
        return tuple(results)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.channel.sock.close()
        self.inputs.close()
        self.outputs.close()


class ModelClient:
    """Runs inferences on one model node (what ``node.call()`` uses). Thread-safe. Calls from
    several threads run at the same time, each on its own connection with its own buffers, and
    the server runs as many of them at once as it has workers."""

    def __init__(self, socket_path: Path, buffer_dir: Path, name: str) -> None:
        self.socket_path = Path(socket_path)
        self.buffer_dir = Path(buffer_dir)
        self.name = name  # the model node's name, for messages
        self._lock = threading.Lock()
        self._idle: list[_Connection] = []
        self._closed = False
        self._converted: set[str] = set()  # inputs whose conversion was logged

    def call(
        self, inputs: dict[str, np.ndarray] | np.ndarray, timeout: float | None = None
    ) -> tuple[np.ndarray, ...]:
        """One inference: a tuple of arrays (the caller's own copies), one per model output, in
        the model's order. ``inputs`` maps descriptor input names to arrays. It may be a bare
        array when the model has one input. Raises ValueError for inputs that do not fit the
        model, TimeoutError when ``timeout`` seconds pass without an answer, ConnectionError when
        the model node is not running or the connection is lost (the next call connects again),
        and RuntimeError when the inference fails."""
        deadline = None if timeout is None else time.monotonic() + timeout
        connection: _Connection | None = None
        try:
            connection, reused = self._take(deadline)
            tensors = self._match(connection.specs, inputs)
            try:
                results = connection.run(tensors, deadline)
            except _NotSent:
                if not reused:
                    raise
                # A pooled connection can break between two calls (the server was restarted).
                # The request never left, so it goes again once, on a fresh connection. A
                # request that was sent is never repeated: it may be what broke the server.
                connection.close()
                connection, reused = _Connection(self, deadline), False
                results = connection.run(self._match(connection.specs, inputs), deadline)
        except TimeoutError:
            # Dropping the connection is what keeps a late answer from being read as the
            # answer to a later call.
            if connection is not None:
                connection.close()
            raise TimeoutError(
                f"model node {self.name} gave no answer within {timeout} s"
            ) from None
        except ProtocolError as exc:
            if connection is not None:
                connection.close()
            raise ConnectionError(f"model node {self.name}: {exc}") from None
        except (ValueError, RuntimeError):
            # A refused input or a failed inference leaves the connection in step: keep it.
            if connection is not None:
                self._give_back(connection)
            raise
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        self._give_back(connection)
        return results

    def close(self) -> None:
        """Close the connections and remove this client's buffers. Calls still running end their
        connections when they return."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def __enter__(self) -> ModelClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- helpers --------------------------------------------------------------------------------
    def _take(self, deadline: float | None) -> tuple[_Connection, bool]:
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"the client of model node {self.name} is closed")
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return _Connection(self, deadline), False
            if connection.alive():
                return connection, True
            connection.close()

    def _give_back(self, connection: _Connection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def _not_running(self, reason: OSError | str) -> ConnectionError:
        if isinstance(reason, OSError):
            reason = reason.strerror or type(reason).__name__
        return ConnectionError(f"model node {self.name} is not running: {reason}")

    def _match(
        self, specs: list[InputSpec], inputs: dict[str, np.ndarray] | np.ndarray
    ) -> list[tuple[InputSpec, np.ndarray]]:
        """The given arrays in the model's input order, checked against the inputs."""
        names = ", ".join(f"{spec.name} ({describe(spec)})" for spec in specs)
        if isinstance(inputs, np.ndarray):
            if len(specs) != 1:
                raise ValueError(
                    f"model node {self.name} has {len(specs)} inputs ({names}): "
                    "give a dict of arrays by input name, not one array"
                )
            inputs = {specs[0].name: inputs}
        if not isinstance(inputs, dict):
            raise ValueError(
                f"model node {self.name} takes a dict of numpy arrays by input name "
                f"({names}); given {type(inputs).__name__}"
            )
        known = {spec.name for spec in specs}
        unknown = [key for key in inputs if key not in known]
        if unknown:
            raise ValueError(
                f"model node {self.name} has no input {unknown[0]!r}; its inputs: {names}"
            )
        tensors = []
        for spec in specs:
            if spec.name not in inputs:
                raise ValueError(
                    f"input '{spec.name}' ({describe(spec)}) of model node {self.name} is missing"
                )
            array = inputs[spec.name]
            if not isinstance(array, np.ndarray):
                raise ValueError(
                    f"input '{spec.name}' of model node {self.name} must be a numpy array "
                    f"({describe(spec)}); given {type(array).__name__}"
                )
            array, converted = conform(self.name, spec, array)
            if converted and spec.name not in self._converted:
                # Once per input: an application converts the same way on every frame.
                self._converted.add(spec.name)
                logger.warning(
                    "input '%s' of model node %s: %s, as Panorama did (pass %s to avoid it)",
                    spec.name, self.name, converted, describe(spec),
                )  # fmt: skip
            tensors.append((spec, array))
        return tensors
