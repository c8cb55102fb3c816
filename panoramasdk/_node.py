"""``panoramasdk.node``: the application's handle on its code node."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge_agent.runtime.modelwire import ModelClient
from edge_agent.runtime.records import CodeNodeConfig, MediaInput, ModelRef
from panoramasdk._media import media
from panoramasdk._ports import (
    _Context,
    _MediaInputPort,
    _MediaOutputPort,
    _ParameterPort,
    port,
)

CONFIG_ENV = "VANTAGE_NODE_CONFIG"
RUNTIME_DIR_ENV = "VANTAGE_RUNTIME_DIR"

_lock = threading.Lock()
_current: node | None = None
_MISSING: Any = object()


def _load_config() -> tuple[CodeNodeConfig, Path]:
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(
            f"panoramasdk: {CONFIG_ENV} is not set: this process is not running as a code node "
            "of a Vantage application (the edge agent starts code nodes with it)"
        )
    try:
        config = CodeNodeConfig.model_validate_json(Path(path).read_bytes())
    except OSError as exc:
        message = f"panoramasdk: cannot read the node configuration {path}: {exc}"
        raise RuntimeError(message) from None
    except ValueError as exc:
        message = f"panoramasdk: the node configuration {path} is not valid: {exc}"
        raise RuntimeError(message) from None
    runtime_dir = Path(os.environ.get(RUNTIME_DIR_ENV) or config.runtime_dir)
    if not runtime_dir.is_dir():
        raise RuntimeError(f"panoramasdk: the runtime folder {runtime_dir} does not exist")
    return config, runtime_dir


class _Ports:
    """``node.inputs`` / ``node.outputs``: one attribute per port of the node's interface."""

    # Set in __init__ past __setattr__ (declared for type checkers: not ports).
    _direction: str
    _ports: dict[str, port]

    def __init__(self, direction: str, ports: dict[str, port]) -> None:
        object.__setattr__(self, "_direction", direction)
        object.__setattr__(self, "_ports", ports)

    def __getattr__(self, name: str) -> port:
        ports = object.__getattribute__(self, "_ports")
        try:
            return ports[name]
        except KeyError:
            direction = object.__getattribute__(self, "_direction")
            known = ", ".join(sorted(ports)) or "none"
            raise AttributeError(f"this node has no {direction} port {name!r} (its {direction}s: "
                                 f"{known})") from None  # fmt: skip

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the node's {self._direction}s are set by its interface")

    def __iter__(self) -> Iterator[str]:
        return iter(self._ports)

    def __contains__(self, name: object) -> bool:
        return name in self._ports

    def __dir__(self) -> list[str]:
        return list(self._ports)

    def __repr__(self) -> str:
        return f"<panoramasdk {self._direction}s: {', '.join(self._ports)}>"


class _Models:
    """The model nodes ``call()`` reaches. A ModelClient is thread-safe and gives each
    concurrent call its own connection, so no thread waits for another's inference (SDK 1.1)."""

    def __init__(self, models: dict[str, ModelRef], runtime_dir: Path) -> None:
        self._models = models
        self._runtime_dir = runtime_dir
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def call(self, name: str, inputs: Any, timeout: float) -> tuple[np.ndarray, ...]:
        if name not in self._models:
            known = ", ".join(repr(n) for n in sorted(self._models)) or "none"
            raise KeyError(f"{name!r} is not a model node of this application (its model nodes: "
                           f"{known})")  # fmt: skip
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                # Buffers live in the runtime folder: the server maps them by name from there.
                socket_path = self._runtime_dir / self._models[name].socket
                client = self._clients[name] = ModelClient(socket_path, self._runtime_dir, name)
        return tuple(client.call(inputs, timeout=timeout))

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


class node:
    """The code node's handle: ``inputs``, ``outputs`` and ``call()``.

    Applications subclass it with an ``__init__`` that never calls ``super().__init__()``, so
    everything is set up in ``__new__``. One node per process, as on Panorama."""

    inputs: _Ports
    outputs: _Ports

    def __new__(cls, *args: Any, **kwargs: Any) -> node:
        global _current
        with _lock:
            if _current is not None:
                raise RuntimeError(
                    "panoramasdk: this process already has its node; there is one "
                    "panoramasdk.node per code node process"
                )
            config, runtime_dir = _load_config()
            self = super().__new__(cls)
            context = _Context(node=config.node, runtime_dir=runtime_dir)
            inputs: dict[str, port] = {}
            for name, spec in config.inputs.items():
                if isinstance(spec, MediaInput):
                    inputs[name] = _MediaInputPort(name, spec, runtime_dir)
                else:
                    inputs[name] = _ParameterPort(name, spec)
            outputs: dict[str, port] = {
                name: _MediaOutputPort(name, spec, context) for name, spec in config.outputs.items()
            }
            # Set through object.__setattr__: a subclass may define __setattr__ of its own.
            object.__setattr__(self, "inputs", _Ports("input", inputs))
            object.__setattr__(self, "outputs", _Ports("output", outputs))
            object.__setattr__(self, "_vantage_config", config)
            object.__setattr__(self, "_vantage_models", _Models(config.models, runtime_dir))
            _current = self
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def call(
        self,
        first: Any = _MISSING,
        second: Any = _MISSING,
        time_out: float | None = None,
        *,
        input: Any = _MISSING,
        name: Any = _MISSING,
        timeout: float | None = None,
    ) -> tuple[np.ndarray, ...]:
        """Run model node ``name`` on ``input``: ``call(input, name, time_out=None)`` as every
        Panorama application writes it, or ``call(name, input, …)`` as the reference words it.
        ``input`` is ``{tensor name: array}``, one array, or a media (its image). Returns one
        array per model output."""
        positional = [value for value in (first, second) if value is not _MISSING]
        if name is _MISSING and input is _MISSING:
            if len(positional) != 2:
                raise TypeError("call() takes an input and a model node name")
            first_is_name = isinstance(positional[0], str)
            if first_is_name == isinstance(positional[1], str):
                raise TypeError(
                    "call(): give one model node name (a str) and one input "
                    "(a dict of arrays, an array or a media)"
                )
            name, input = positional if first_is_name else positional[::-1]
        elif name is _MISSING:
            if len(positional) != 1:
                raise TypeError("call() takes an input and a model node name")
            name = positional[0]
        elif input is _MISSING:
            if len(positional) != 1:
                raise TypeError("call() takes an input and a model node name")
            input = positional[0]
        elif positional:
            raise TypeError("call() got its input and name both by position and by keyword")
        if not isinstance(name, str):
            raise TypeError(f"call(): the model node name must be a str, not {type(name).__name__}")
        if isinstance(input, media):
            input = input.image
        if not isinstance(input, (dict, np.ndarray)):
            raise ValueError(
                "call(): input must be a dict {tensor name: numpy array}, a numpy array or a "
                f"media, not {type(input).__name__}"
            )
        limit = time_out if time_out is not None else timeout
        config: CodeNodeConfig = object.__getattribute__(self, "_vantage_config")
        models: _Models = object.__getattribute__(self, "_vantage_models")
        return models.call(name, input, config.call_timeout_s if limit is None else float(limit))


def _shutdown() -> None:
    """Release what the node holds (ring slots, sockets, model connections) and allow a new
    node: what a process does on exit, for tests that make nodes one after another."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is None:
        return
    for ports in (current.inputs, current.outputs):
        for name in ports:
            getattr(ports, name)._close()
    object.__getattribute__(current, "_vantage_models").close()
