"""Sign-in throttling on the real login page (django-axes, console/signin.py; issue #20)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.support.users import PASSWORD


def _sign_in(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.django_db
def test_the_sixth_try_is_refused_even_with_the_right_password(operator, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    for _ in range(5):
        response = _sign_in(client, operator.username, "wrong-password")
        assert response.status_code in (200, 429)
    response = _sign_in(client, operator.username, PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-ins; try again in 15 minutes." in page
    assert 'name="password"' in page  # the login page itself, not a bare error
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by this one's failures: nobody can lock a colleague out.
    response = _sign_in(Client(), operator.username, PASSWORD, address="10.0.0.2")
    assert response.status_code == 302


@pytest.mark.django_db
def test_fewer_failures_than_the_limit_then_the_right_password_signs_in(operator):
    client = Client()
    for _ in range(4):
        assert _sign_in(client, operator.username, "wrong-password").status_code == 200
    response = _sign_in(client, operator.username, PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(operator.pk)
    # A success clears the count: four more failures do not lock the account.
    for _ in range(4):
        assert _sign_in(Client(), operator.username, "wrong-password").status_code == 200
    assert _sign_in(Client(), operator.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_the_lockout_period_is_configurable(operator, settings):
    from datetime import timedelta

    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    client = Client()
    _sign_in(client, operator.username, "wrong-password")
    response = _sign_in(client, operator.username, "wrong-password")
    assert response.status_code == 429
    assert "try again in 1 minute." in response.content.decode()


@pytest.mark.django_db
def test_a_forged_forwarded_for_header_does_not_escape_the_lock(operator):
    client = Client()
    for n in range(5):
        client.post(
            "/login/",
            {"username": operator.username, "password": "wrong"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        )
    response = client.post(
        "/login/",
        {"username": operator.username, "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1",
        HTTP_X_FORWARDED_FOR="192.0.2.99",
    )
    assert response.status_code == 429
