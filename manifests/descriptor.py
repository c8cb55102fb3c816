"""Asset descriptor (``descriptor.json``) validation — spec §5.4.

A descriptor is either an ``mlModelDescriptor`` (how to compile/run a model asset; its input
names are the keys code passes to ``node.call``) or a ``runtimeDescriptor`` (how to start a
container asset: ``entry.path`` is the launcher, e.g. ``python3`` or ``bash``, with arguments).
"""

from __future__ import annotations

from typing import Any

from .common import ENVELOPE
from .errors import Errors, ValidationError
from .payload import load
from .schema import Arr, Int, Obj, Pattern, Str, Tagged, article

#: Panorama's own list plus ONNX, which Vantage devices run natively.
FRAMEWORKS = ("TENSORFLOW", "PYTORCH", "MXNET", "ONNX")
TENSOR_TYPES = (
    "int8",
    "uint8",
    "int16",
    "uint16",
    "int32",
    "uint32",
    "float16",
    "float32",
    "float64",
)

INPUT_TENSOR = Obj(
    title="an input tensor",
    fields={
        "name": Str(hint="the tensor name code uses as a key of the node.call input dict"),
        "type": Str(enum=TENSOR_TYPES),
        "shape": Arr(items=Int(), hint="an array of integers, e.g. [1, 3, 224, 224]"),
    },
    required=("name", "shape"),
)

ML_MODEL_DESCRIPTOR = Obj(
    title="mlModelDescriptor",
    fields={
        "envelopeVersion": ENVELOPE,
        "framework": Str(enum=FRAMEWORKS),
        "frameworkVersion": Str(
            min_len=3,
            max_len=10,
            pattern=Pattern(r"^[0-9]+\.[A-Za-z0-9.]+$", "'<major>.<minor>', e.g. '1.8'", form=True),
        ),
        "inputs": Arr(items=INPUT_TENSOR),
        "precisionMode": Str(enum=("FP32", "FP16")),
    },
    required=("envelopeVersion", "framework", "inputs"),
)

ENVIRONMENT_VARIABLE = Obj(
    title="an environment variable",
    fields={"name": Str(min_len=1), "value": Str()},
    required=("name", "value"),
)

ENTRY = Obj(
    title="entry",
    fields={
        "path": Str(
            hint='the launcher, e.g. "python3", "python3.8" or "bash" (default "$default")'
        ),
        "name": Str(min_len=1, hint='the entry file, e.g. "/panorama/application.py"'),
        "arguments": Arr(items=Str()),
        "environment": Arr(items=ENVIRONMENT_VARIABLE),
    },
    depends={"path": "name", "arguments": "name", "environment": "name"},
)


def _event(kind: str, with_inputs: bool) -> Obj:
    fields: dict[str, Any] = {
        "description": Str(),
        "type": Str(enum=(kind,)),
        "handler": Str(min_len=1),
    }
    if with_inputs:
        fields["inputs"] = Arr(items=Str(min_len=1))
    required = ("type", "handler", "inputs") if with_inputs else ("type", "handler")
    return Obj(title=f"{article(kind)} event", fields=fields, required=required)


EVENT = Tagged(
    title="an event",
    key="type",
    cases={
        "onExit": _event("onExit", False),
        "onPartialInput": _event("onPartialInput", True),
        "onCompleteInput": _event("onCompleteInput", True),
    },
)

RUNTIME_DESCRIPTOR = Obj(
    title="runtimeDescriptor",
    fields={"envelopeVersion": ENVELOPE, "entry": ENTRY, "events": Arr(items=EVENT)},
    required=("envelopeVersion",),
)

DESCRIPTOR_KINDS = ("mlModelDescriptor", "runtimeDescriptor")

DESCRIPTOR_DOCUMENT = Obj(
    title="a descriptor.json document",
    fields={"mlModelDescriptor": ML_MODEL_DESCRIPTOR, "runtimeDescriptor": RUNTIME_DESCRIPTOR},
    any_of_required=(DESCRIPTOR_KINDS,),
)


def validate_descriptor(doc: Any) -> list[ValidationError]:
    """Validate an asset descriptor (parsed, or JSON text/bytes); never raises."""
    errors: Errors = []
    doc, _raw = load(doc, errors)
    if errors:
        return errors
    DESCRIPTOR_DOCUMENT.check(doc, "", errors)
    if isinstance(doc, dict) and all(kind in doc for kind in DESCRIPTOR_KINDS):
        message = 'a descriptor holds "mlModelDescriptor" or "runtimeDescriptor", not both'
        hint = "split the model and the container descriptor into separate assets"
        errors.append(ValidationError("", message, hint))
    return errors
