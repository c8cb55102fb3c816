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


# --- NUL characters (#20): PostgreSQL cannot hold them; a 400 that names the field ---------------


@pytest.mark.parametrize("field", ["device", "runtime_role", "replaces", "description", "tags"])
def test_a_nul_in_a_deploy_is_a_400_naming_the_field(operator_client, field):
    device = connected_device("nul-1")
    body = {"name": "app", "device": device.device_id, "manifest_payload": "{}"}
    body[field] = {"zone\x00": "a"} if field == "tags" else "bad\x00value"
    answer = operator_client.post(
        "/api/application-instances/", json.dumps(body), content_type="application/json"
    )
    assert answer.status_code == 400, answer.content
    named = "tags.zone\\x00" if field == "tags" else field
    assert answer.json() == {named: ["Text must not contain NUL (0x00) characters."]}


@pytest.mark.parametrize("field", ["user", "name"])
def test_a_nul_in_a_new_token_is_a_400_naming_the_field(admin_client, administrator, field):
    body = {"name": "ci", "user": administrator.username, field: "x\x00y"}
    answer = admin_client.post("/api/tokens/", json.dumps(body), content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert answer.json() == {field: ["Text must not contain NUL (0x00) characters."]}


def test_a_nul_in_a_form_body_is_a_400_naming_the_field(admin_client, administrator):
    answer = admin_client.post("/api/tokens/", {"name": "ci", "user": f"{administrator}\x00"})
    assert answer.status_code == 400, answer.content
    assert answer.json() == {"user": ["Text must not contain NUL (0x00) characters."]}


def test_a_nul_in_a_console_form_is_refused_by_the_form(admin_client):
    answer = admin_client.post("/settings/tokens/add/", {"name": "ci\x00", "user": "x\x00"})
    assert answer.status_code == 400  # the form again, with its errors; nothing stored
    assert "Null characters are not allowed." in answer.content.decode()
