"""The Panorama API's tests (Django): what came over the wire is the model's (every body a
test client receives is checked against its operation's output shape; boto3 itself silently
drops members it does not know), the error a refused call raised, and application instances
created the way Panorama's clients create them (minified payloads)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.db import transaction

from applications.models import ApplicationInstance
from devices.models import Device
from tests.support.deploy import inbound_network_app, report

REGION = "us-west-2"  # the tests' PANORAMA_API_REGION


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


# --- application instances ---------------------------------------------------------------------

MANIFEST = "ManifestPayload.PayloadData"
OVERRIDES = "ManifestOverridesPayload.PayloadData"


def minified(text: str) -> str:
    return json.dumps(json.loads(text), separators=(",", ":"))


def payloads(host_port: int = 8081) -> tuple[str, str]:
    graph, override = inbound_network_app(host_port)
    return minified(graph), minified(override)


def create(client, device: Device, host_port: int = 8081, **extra) -> str:
    graph, override = payloads(host_port)
    arguments = {
        "Name": f"inbound-{host_port}",
        "DefaultRuntimeContextDevice": device.device_id,
        "ManifestPayload": {"PayloadData": graph},
        "ManifestOverridesPayload": {"PayloadData": override},
        **extra,
    }
    return client.create_application_instance(**arguments)["ApplicationInstanceId"]


def device_reports(device: Device, instance: ApplicationInstance, status: str, nodes=()) -> None:
    with transaction.atomic():  # the link calls it inside its transaction
        report(device, instance, status, nodes)


def error_details(raised: pytest.ExceptionInfo) -> dict:
    """The parsed error: code, message, modeled members and the HTTP status."""
    response = raised.value.response
    return {
        **response["Error"],
        **{k: v for k, v in response.items() if k not in ("Error", "ResponseMetadata")},
        "HTTPStatusCode": response["ResponseMetadata"]["HTTPStatusCode"],
    }


# --- packages --------------------------------------------------------------------------------

PACKAGE_ID = re.compile(r"^package-[a-z2-7]{26}$")
PASSWORD = "s3cret-Pa55word"  # a test camera's


def package_json(name: str, version: str = "1.0", *, threshold: float = 0.5, **extra) -> bytes:
    document = {
        "nodePackage": {
            "envelopeVersion": "2021-01-01",
            "name": name,
            "version": version,
            "description": "Counts people.",
            "assets": [],
            "interfaces": [
                {
                    "name": "interface",
                    "category": "business_logic",
                    "asset": "code_asset",
                    "description": "The code node",
                    "inputs": [
                        {"name": "video_in", "type": "media", "maxConnections": 1},
                        {"name": "threshold", "type": "float32", "default": threshold},
                        {"name": "label", "type": "string", "default": "person"},
                    ],
                    "outputs": [{"name": "video_out", "type": "media", "description": "Annotated"}],
                }
            ],
            **extra,
        }
    }
    return json.dumps(document, indent=2).encode()


def upload(client, manifest: bytes) -> str:
    """Put a package.json into the asset store as vantage-cli does (the REST API); its patch."""
    sha = hashlib.sha256(manifest).hexdigest()
    answer = client.put(
        f"/api/assets/{sha}/?filename=package.json", manifest,
        content_type="application/octet-stream",
    )  # fmt: skip
    assert answer.status_code in (200, 201), answer.content
    return sha


# A package import job's input and output
INPUT = {"PackageVersionInputConfig": {"S3Location": {"BucketName": "b", "ObjectKey": "k"}}}
OUTPUT = {"PackageVersionOutputConfig": {"PackageName": "counter", "PackageVersion": "1.0"}}
