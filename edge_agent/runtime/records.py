"""The code node's side of the runtime contracts: its configuration and its ``put()`` records.

These are read and written inside the application's own container image, by the application's
own interpreter: Python 3.8 with NumPy 1.24 in an image built for Panorama, whatever the base
image has otherwise. So this module is plain Python 3.8 with no third-party import: stdlib
dataclasses, checked on load by :func:`_convert` against their type hints. The hints use
``typing.List``/``Dict``/``Union`` because Python 3.8 cannot evaluate ``list[int]`` or
``int | None`` (``typing.get_type_hints`` evaluates them).

The records offer the three calls the agent's pydantic configs offer (``model_validate``,
``model_validate_json``, ``model_dump_json``), so every config, pydantic or not, loads through
``config.load`` and writes the same way.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, Dict, List, Optional, Tuple, Union  # noqa: UP035 (Python 3.8)

T = typing.TypeVar("T", bound="Record")
_MISSING = dataclasses.MISSING


class Record:
    """A dataclass that loads from JSON with its types checked and unknown keys refused."""

    @classmethod
    def model_validate(cls: type[T], value: Any) -> T:
        record: T = _convert(value, cls, cls.__name__)
        return record

    @classmethod
    def model_validate_json(cls: type[T], data: str | bytes) -> T:
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise ValueError(f"{cls.__name__}: not JSON: {exc}") from None
        return cls.model_validate(document)

    def model_dump(self) -> dict[str, Any]:
        document: dict[str, Any] = dataclasses.asdict(self)  # type: ignore[call-overload]
        return document

    def model_dump_json(self, indent: int | None = None) -> str:
        return json.dumps(self.model_dump(), indent=indent, separators=_separators(indent))


def _separators(indent: int | None) -> tuple[str, str]:
    return (",", ": ") if indent is not None else (",", ":")


@dataclasses.dataclass
class TensorSpec(Record):
    """One input of the mlModelDescriptor: ``call()`` keys and what they must hold."""

    name: str
    shape: List[int]  # noqa: UP006
    # int8 uint8 int16 uint16 int32 uint32 float16 float32 float64; None: the descriptor does
    # not say, and the model's own type applies.
    type: Optional[str] = None  # noqa: UP045


@dataclasses.dataclass
class StreamInput(Record):
    camera: str  # the camera node's name
    stream_id: str
    stream_uri: str  # without credentials
    ring: str
    reader: int  # this code node's reader index in that ring


@dataclasses.dataclass
class MediaInput(Record):
    streams: List[StreamInput]  # noqa: UP006
    kind: typing.Literal["media"] = "media"


@dataclasses.dataclass
class ParameterInput(Record):
    type: typing.Literal["float32", "int32", "string", "boolean"]
    value: Any
    kind: typing.Literal["parameter"] = "parameter"


@dataclasses.dataclass
class MediaOutput(Record):
    # display-<node>.sock of each display node the port feeds ([]: put() checks and drops).
    displays: List[str] = dataclasses.field(default_factory=list)  # noqa: UP006
    # The code node's own ring for images an application assigned (media.image = new array):
    # out-<code node>.ring, written by the code process, read by the display.
    ring: str = ""
    reader: int = 0  # the display's reader index in that ring
    kind: typing.Literal["media"] = "media"


@dataclasses.dataclass
class ModelRef(Record):
    socket: str
    inputs: List[TensorSpec]  # noqa: UP006


@dataclasses.dataclass
class CodeNodeConfig(Record):
    application_instance_id: str
    node: str
    runtime_dir: str
    inputs: Dict[str, Union[MediaInput, ParameterInput]] = dataclasses.field(  # noqa: UP006, UP007
        default_factory=dict
    )
    outputs: Dict[str, MediaOutput] = dataclasses.field(default_factory=dict)  # noqa: UP006
    models: Dict[str, ModelRef] = dataclasses.field(default_factory=dict)  # noqa: UP006
    call_timeout_s: float = 30.0  # call()'s limit when the application gives none


@dataclasses.dataclass
class PutMedia(Record):
    ring: str
    slot: int
    seq: int
    stream_id: str = ""
    decoded_ns: int = 0
    labels: List[Tuple[str, float, float]] = dataclasses.field(default_factory=list)  # noqa: UP006
    rects: List[Tuple[float, float, float, float]] = dataclasses.field(  # noqa: UP006
        default_factory=list
    )


# The largest put() record: what a display reads of one datagram.
MAX_PUT_RECORD = 65536


@dataclasses.dataclass
class PutRecord(Record):
    """One ``put()``: a datagram from the code node to a display (a few hundred bytes)."""

    node: str
    port: str
    put_ns: int
    media: List[PutMedia]  # noqa: UP006


# --- checking a document against the hints -----------------------------------------------------
_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record(value, hint, where)
    if origin is Union:
        return _union(value, args, where)
    if origin is typing.Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise ValueError(f"{where}: {value!r} is not one of {allowed}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
        return [_convert(item, args[0], f"{where}[{i}]") for i, item in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ValueError(f"{where}: expected a list of {len(args)} items")
        pairs = enumerate(zip(value, args))  # noqa: B905 (Python 3.8 has no strict)
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (v, a) in pairs)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
        return {
            _convert(k, args[0], where): _convert(v, args[1], f"{where}.{k}")
            for k, v in value.items()
        }
    return _scalar(value, hint, where)


def _scalar(value: Any, hint: Any, where: str) -> Any:
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is bool or hint is str:
        if isinstance(value, hint):
            return value
    elif hint is type(None):
        if value is None:
            return None
    else:
        raise TypeError(f"{where}: cannot check values of type {hint!r}")
    name = "null" if hint is type(None) else hint.__name__
    raise ValueError(f"{where}: expected {name}, got {type(value).__name__} {value!r}")


def _union(value: Any, options: tuple[Any, ...], where: str) -> Any:
    records = [o for o in options if isinstance(o, type) and dataclasses.is_dataclass(o)]
    if records and isinstance(value, dict) and "kind" in value:
        # Discriminated by "kind", as the pydantic configs are.
        for option in records:
            if _default(option, "kind") == value["kind"]:
                return _record(value, option, where)
        raise ValueError(f"{where}.kind: unknown kind {value['kind']!r}")
    errors = []
    for option in options:
        try:
            return _convert(value, option, where)
        except ValueError as exc:
            errors.append(str(exc))
    raise ValueError("; ".join(errors))


def _default(cls: type, name: str) -> Any:
    for item in dataclasses.fields(cls):
        if item.name == name:
            return item.default
    return None


def _record(value: Any, cls: type, where: str) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    hints = _hints(cls)
    names = {item.name for item in dataclasses.fields(cls)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise ValueError(f"{where}.{unknown[0]}: unknown field")
    values = {}
    for item in dataclasses.fields(cls):
        if item.name in value:
            values[item.name] = _convert(value[item.name], hints[item.name], f"{where}.{item.name}")
        elif item.default is _MISSING and item.default_factory is _MISSING:
            raise ValueError(f"{where}.{item.name}: field required")
    return cls(**values)


__all__ = [
    "CodeNodeConfig",
    "MediaInput",
    "MediaOutput",
    "ModelRef",
    "ParameterInput",
    "PutMedia",
    "PutRecord",
    "StreamInput",
    "TensorSpec",
]
