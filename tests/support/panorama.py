"""The Panorama API's tests (no Django): what came over the wire is the model's (every body a
test client receives is checked against its operation's output shape; boto3 itself silently
drops members it does not know), and the error a refused call raised."""

from __future__ import annotations

import json


def _check(shape, value, where: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{where}: members the model lacks: {sorted(unknown)}"
        missing = set(shape.required_members) - set(value)
        assert not missing, f"{where}: required members missing: {sorted(missing)}"
        for name, member in value.items():
            _check(shape.members[name], member, f"{where}.{name}")
    elif kind == "list":
        assert isinstance(value, list), f"{where}: {value!r} is not a list"
        for index, item in enumerate(value):
            _check(shape.member, item, f"{where}[{index}]")
    elif kind == "map":
        assert isinstance(value, dict), f"{where}: {value!r} is not a map"
        for key, item in value.items():
            _check(shape.key, key, f"{where} key")
            _check(shape.value, item, f"{where}[{key}]")
    elif kind == "timestamp":
        assert isinstance(value, int | float) and not isinstance(value, bool), (
            f"{where}: {value!r} is not epoch seconds"
        )
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r}"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{where}: {value!r}"
    elif kind in ("string", "blob"):
        assert isinstance(value, str), f"{where}: {value!r} is not a string"
        if kind == "string":
            if shape.enum:
                assert value in shape.enum, f"{where}: {value!r} is not one of {shape.enum}"
            low = shape.metadata.get("min")
            assert low is None or len(value) >= low, f"{where}: {value!r} shorter than {low}"
            high = shape.metadata.get("max")
            assert high is None or len(value) <= high, f"{where}: {value!r} longer than {high}"


def checked(client):
    """``client``, with every response body it receives checked against the operation's output
    shape (boto3 itself silently drops members it does not know)."""

    def after_call(http_response, model, **_):
        if http_response.status_code == 200 and model.output_shape is not None:
            body = json.loads(http_response.content or b"{}")
            _check(model.output_shape, body, model.name)
            client.checked_operations.add(model.name)

    client.checked_operations = set()
    client.meta.events.register("after-call.panorama.*", after_call)
    return client


def error_of(caught) -> dict:
    """The error body of a call ``pytest.raises`` caught."""
    return caught.value.response
