"""Bodies nested too deeply for Python's JSON parser get a 400 that says so, never a 500 (#20):
the request body itself, and the manifests inside it."""

from __future__ import annotations

import json

import pytest

from tests.support.devices import connected_device

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_MANIFEST = "[" * 20_000 + "]" * 20_000  # within the 51,200-character payload limit


def test_a_request_body_nested_too_deeply_is_a_400(operator_client):
    answer = operator_client.post(
        "/api/application-instances/", DEEP, content_type="application/json"
    )
    assert answer.status_code == 400
    assert "nests too deeply" in answer.json()["detail"]


def test_a_manifest_nested_too_deeply_is_a_400(operator_client):
    device = connected_device("deep-1")
    body = {"name": "deep", "device": device.device_id, "manifest_payload": DEEP_MANIFEST,
            "manifest_overrides_payload": DEEP_MANIFEST}  # fmt: skip
    answer = operator_client.post(
        "/api/application-instances/", json.dumps(body), content_type="application/json"
    )
    assert answer.status_code == 400, answer.content
    assert "nested more than" in answer.content.decode()
