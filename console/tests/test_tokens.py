"""API tokens: hashed at rest, read-only refused on writes, expiry, last use."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.models import APIToken


def _bearer(text: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {text}"}


@pytest.mark.django_db
def test_token_is_stored_only_as_a_hash(operator):
    token, text = APIToken.issue(user=operator, name="ci")
    assert text.startswith("vtg_")
    secret = text.rsplit("_", 1)[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM console_apitoken WHERE id = %s", [token.pk])
        row = " ".join(str(v) for v in cursor.fetchone())
    assert secret not in row
    assert text not in row
    assert token.secret_hash in row


@pytest.mark.django_db
def test_token_authenticates_and_records_last_use(operator):
    token, text = APIToken.issue(user=operator, name="ci")
    assert token.last_used is None
    response = Client().get("/api/devices/", **_bearer(text))
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used is not None


@pytest.mark.django_db
def test_read_only_token_is_refused_on_writes(operator):
    _token, text = APIToken.issue(user=operator, name="ro", read_only=True)
    body = {"name": "cam", "url": "rtsp://10.0.0.9/s"}
    response = Client().post("/api/datasources/", body, **_bearer(text))
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    assert Client().get("/api/datasources/", **_bearer(text)).status_code == 200


@pytest.mark.django_db
def test_read_write_token_may_write_within_its_role(operator, viewer):
    _t, operator_text = APIToken.issue(user=operator, name="rw", read_only=False)
    _t, viewer_text = APIToken.issue(user=viewer, name="rw", read_only=False)
    body = {"name": "cam", "url": "rtsp://10.0.0.9/s"}
    assert Client().post("/api/datasources/", body, **_bearer(operator_text)).status_code == 201
    # A writable token does not lift its user's role.
    response = Client().post("/api/datasources/", {**body, "name": "cam2"}, **_bearer(viewer_text))
    assert response.status_code == 403


@pytest.mark.django_db
def test_expired_token_is_refused(operator):
    _token, text = APIToken.issue(
        user=operator, name="old", expires=timezone.now() - timedelta(seconds=1)
    )
    response = Client().get("/api/devices/", **_bearer(text))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "text", ["vtg_nothing", "vtg_0123456789abcdef_wrong-secret", "not-a-token", "vtg__x"]
)
def test_wrong_or_malformed_tokens_are_refused(operator, text):
    APIToken.issue(user=operator, name="real")
    response = Client().get("/api/devices/", **_bearer(text))
    assert response.status_code == 401


@pytest.mark.django_db
def test_token_of_a_deactivated_user_is_refused(operator):
    _token, text = APIToken.issue(user=operator, name="ci")
    operator.is_active = False
    operator.save()
    assert Client().get("/api/devices/", **_bearer(text)).status_code == 401


@pytest.mark.django_db
def test_token_list_never_shows_secret_or_hash(admin_client, operator):
    token, text = APIToken.issue(user=operator, name="ci")
    for url in ("/api/tokens/", f"/api/tokens/{token.pk}/", "/settings/tokens/"):
        body = admin_client.get(url).content.decode()
        assert token.secret_hash not in body
        assert text not in body
    assert "vtg_" + token.key_id in admin_client.get("/settings/tokens/").content.decode()


@pytest.mark.django_db
def test_api_creates_token_and_shows_it_once(admin_client, operator):
    response = admin_client.post(
        "/api/tokens/",
        {"name": "deploy", "user": operator.username, "read_only": False},
        content_type="application/json",
    )
    assert response.status_code == 201
    text = response.json()["token"]
    assert APIToken.parse(text) is not None
    listed = admin_client.get("/api/tokens/").json()["results"][0]
    assert "token" not in listed
    assert Client().get("/api/devices/", **_bearer(text)).status_code == 200


@pytest.mark.django_db
def test_revoked_token_stops_working(admin_client, operator):
    token, text = APIToken.issue(user=operator, name="ci")
    assert admin_client.post(f"/settings/tokens/{token.pk}/revoke/").status_code == 302
    assert Client().get("/api/devices/", **_bearer(text)).status_code == 401
