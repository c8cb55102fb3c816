"""Model inputs as ``call()`` sees them, and what an application may pass for one.

Panorama ran models with DLR, whose ``set_input`` took any numeric array with the right number
of elements: it reshaped it to the input's shape and cast it to the input's type. Published
Panorama applications rely on that (an unbatched ``[3, 640, 640]`` image for ``[1, 3, 640, 640]``,
uint8 pixels for a float32 input), so ``conform`` does the same, and says what it converted.

Imported by ``panoramasdk`` inside the application's own image, so Python 3.8 must run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# The element types a tensor may have on the wire: mlModelDescriptor's types plus the other
# plain numeric types that ONNX models use.
DTYPES = frozenset(
    {"bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
     "float16", "float32", "float64"}
)  # fmt: skip
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats (not complex, not objects)


@dataclass(frozen=True)
class InputSpec:
    """One model input as ``call()`` sees it: its descriptor name, element type and shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]  # -1: any size

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> InputSpec:
        return cls(str(doc["name"]), str(doc["dtype"]), tuple(int(d) for d in doc["shape"]))

    def shape_fits(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == len(self.shape) and all(
            want < 0 or want == got
            for want, got in zip(self.shape, shape)  # noqa: B905 (3.8)
        )


def format_shape(shape: tuple[int, ...] | list[int] | list[Any]) -> str:
    """A shape as in messages, for example ``[1, 3, ?, ?]``, where ``?`` is a dimension of any
    size."""
    return "[" + ", ".join("?" if not isinstance(d, int) or d < 0 else str(d) for d in shape) + "]"


def describe(spec: InputSpec) -> str:
    return f"{spec.dtype} {format_shape(spec.shape)}"


def check_input(node: str, spec: InputSpec, dtype: np.dtype, shape: tuple[int, ...]) -> bool:
    """Raise ValueError when a tensor of ``dtype`` and ``shape`` is not exactly input ``spec``
    (what the model server takes: the client has conformed it). Returns whether the tensor must
    first be cast, which is allowed only from float64 to float32."""
    cast = dtype.name == "float64" and spec.dtype == "float32"
    if (dtype.name != spec.dtype and not cast) or not spec.shape_fits(shape):
        raise ValueError(
            f"input '{spec.name}' of model node {node} must be {describe(spec)}; "
            f"given {dtype.name} {format_shape(shape)}"
        )
    return cast


def _reshaped(spec: InputSpec, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The shape an array of ``shape`` takes for ``spec``, as DLR's ``set_input`` would: the
    same element count, laid into the input's fixed dimensions, or the array's own dimensions
    under leading dimensions of 1 (a batch of one); None when it does not fit."""
    count = int(np.prod(shape, dtype=np.int64))
    if all(d > 0 for d in spec.shape):
        return spec.shape if int(np.prod(spec.shape, dtype=np.int64)) == count else None
    missing = len(spec.shape) - len(shape)
    if missing > 0 and all(d in (1, -1) for d in spec.shape[:missing]):
        batched = (1,) * missing + tuple(shape)
        return batched if spec.shape_fits(batched) else None
    return None


def conform(node: str, spec: InputSpec, array: np.ndarray) -> tuple[np.ndarray, str]:
    """``array`` as input ``spec`` takes it: reshaped (a view) when its element count fits, its
    type cast when the copy into the model's buffer happens (any numeric type). Returns the
    array and a description of what was converted ("" when nothing was); ValueError saying
    what the input must be when it cannot fit."""
    given = f"{array.dtype.name} {format_shape(array.shape)}"
    if array.dtype.kind not in _NUMERIC_KINDS or spec.dtype not in DTYPES:
        raise ValueError(
            f"input '{spec.name}' of model node {node} must be {describe(spec)}; given {given} "
            "(only numeric arrays can be converted)"
        )
    shape = tuple(array.shape)
    if not spec.shape_fits(shape):
        target = _reshaped(spec, shape)
        if target is None:
            raise ValueError(
                f"input '{spec.name}' of model node {node} must be {describe(spec)}; given "
                f"{given}, which has {int(np.prod(shape, dtype=np.int64))} elements and cannot "
                "be reshaped to it"
            )
        array = array.reshape(target)
    if array.dtype.name == spec.dtype and tuple(array.shape) == shape:
        return array, ""
    return array, f"given {given}, converted to {spec.dtype} {format_shape(array.shape)}"
