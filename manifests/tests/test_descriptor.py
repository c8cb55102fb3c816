"""descriptor.json rules: each test breaks exactly one rule of a real reference descriptor."""

from __future__ import annotations

import pytest

from manifests import validate_descriptor
from tests.support.reference import (
    DG_MODEL_DESCRIPTOR,
    DG_RUNTIME,
    load,
    pairs,
    removing,
    requires_reference,
    setting,
)

pytestmark = requires_reference

ML = "/mlModelDescriptor"
RT = "/runtimeDescriptor"


def errors_of(doc):
    return pairs(validate_descriptor(doc))


@pytest.mark.parametrize(
    ("pointer", "value", "message"),
    [
        (f"{ML}/envelopeVersion", "2021-01-02", '"2021-01-02" is not an allowed value'),
        (f"{ML}/framework", "CAFFE", '"CAFFE" is not an allowed value'),
        (f"{ML}/frameworkVersion", "1", "too short: 1 character, the minimum is 3"),
        (f"{ML}/frameworkVersion", "v1.8", '"v1.8" does not match the allowed pattern'),
        (f"{ML}/frameworkVersion", "1.8.0.0.0.0", "too long: 11 characters, the maximum is 10"),
        (f"{ML}/precisionMode", "INT8", '"INT8" is not an allowed value'),
        (f"{ML}/inputs", {"data": [1, 3, 224, 224]}, "expected an array, got object"),
        (f"{ML}/inputs/0/shape/1", "3", "expected an integer, got string"),
        (f"{ML}/inputs/0/type", "float8", '"float8" is not an allowed value'),
        (f"{ML}/inputs/0/name", None, "expected a string, got null"),
    ],
)
def test_model_descriptor_rule(pointer, value, message):
    assert errors_of(setting(load(DG_MODEL_DESCRIPTOR), pointer, value)) == [(pointer, message)]


@pytest.mark.parametrize("field", ["envelopeVersion", "framework", "inputs"])
def test_model_descriptor_required_fields(field):
    doc = removing(load(DG_MODEL_DESCRIPTOR), f"{ML}/{field}")
    assert errors_of(doc) == [(f"{ML}/{field}", f'"{field}" is required')]


@pytest.mark.parametrize("framework", ["TENSORFLOW", "PYTORCH", "MXNET", "ONNX"])
def test_frameworks_include_onnx(framework):
    assert errors_of(setting(load(DG_MODEL_DESCRIPTOR), f"{ML}/framework", framework)) == []


def test_tensor_shape_is_required():
    doc = removing(load(DG_MODEL_DESCRIPTOR), f"{ML}/inputs/0/shape")
    assert errors_of(doc) == [(f"{ML}/inputs/0/shape", '"shape" is required')]


def test_bash_entry_with_arguments_is_accepted():
    entry = {"path": "bash", "name": "/panorama/run_app.sh", "arguments": ["--fp16", "-v"]}
    assert errors_of(setting(load(DG_RUNTIME), f"{RT}/entry", entry)) == []
    entry = {"path": "python3", "name": "/panorama/app.py", "arguments": ["--batch", "4"]}
    assert errors_of(setting(load(DG_RUNTIME), f"{RT}/entry", entry)) == []


@pytest.mark.parametrize(
    ("pointer", "value", "message"),
    [
        (f"{RT}/envelopeVersion", 20210101, "expected a string, got integer"),
        (f"{RT}/entry/name", "", "must not be empty"),
        (f"{RT}/entry/path", ["python3"], "expected a string, got array"),
        (f"{RT}/entry/arguments", "--fp16", "expected an array, got string"),
        (f"{RT}/entry/arguments/0", 16, "expected a string, got integer"),
        (f"{RT}/entry/environment/0/name", "", "must not be empty"),
        (f"{RT}/events/0/type", "onStart", '"onStart" is not an allowed value'),
    ],
)
def test_runtime_descriptor_rule(pointer, value, message):
    doc = load(DG_RUNTIME)
    doc["runtimeDescriptor"]["entry"]["arguments"] = ["a"]
    doc["runtimeDescriptor"]["entry"]["environment"] = [{"name": "MODE", "value": "x"}]
    doc["runtimeDescriptor"]["events"] = [{"type": "onExit", "handler": "on_exit"}]
    assert errors_of(doc) == []
    assert errors_of(setting(doc, pointer, value)) == [(pointer, message)]


def test_entry_arguments_need_a_name():
    doc = removing(load(DG_RUNTIME), f"{RT}/entry/name")
    doc["runtimeDescriptor"]["entry"]["arguments"] = ["-u"]
    assert errors_of(doc) == [
        (f"{RT}/entry/name", '"name" is required when "path" is given'),
        (f"{RT}/entry/name", '"name" is required when "arguments" is given'),
    ]


def test_environment_variable_needs_a_value():
    doc = setting(load(DG_RUNTIME), f"{RT}/entry/environment", [{"name": "MODE"}])
    assert errors_of(doc) == [(f"{RT}/entry/environment/0/value", '"value" is required')]


def test_input_events_need_inputs():
    doc = setting(load(DG_RUNTIME), f"{RT}/events", [{"type": "onPartialInput", "handler": "h"}])
    assert errors_of(doc) == [(f"{RT}/events/0/inputs", '"inputs" is required')]


def test_a_descriptor_is_one_kind_only():
    doc = load(DG_RUNTIME) | load(DG_MODEL_DESCRIPTOR)
    assert errors_of(doc) == [
        ("", 'a descriptor holds "mlModelDescriptor" or "runtimeDescriptor", not both')
    ]


def test_an_empty_descriptor_is_rejected():
    assert errors_of({}) == [("", 'one of "mlModelDescriptor" or "runtimeDescriptor" is required')]
