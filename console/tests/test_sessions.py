"""Session lifetime: an idle timeout that activity pushes back, an absolute maximum, and secure
cookies behind HTTPS (core/sessions.py, console/settings.py; issue #20)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from core import sessions
from tests.support.users import PASSWORD

BASE_DIR = Path(__file__).resolve().parents[2]


def _signed_in(user) -> tuple[Client, Session]:
    client = Client()
    response = client.post("/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    return client, Session.objects.get(pk=client.session.session_key)


def _rewrite(session: Session, **values) -> None:
    data = session.get_decoded()
    data.update(values)
    Session.objects.filter(pk=session.pk).update(
        session_data=Session.objects.encode(data), expire_date=session.expire_date
    )


@pytest.mark.django_db
def test_a_session_expires_after_twelve_idle_hours_not_two_weeks(operator):
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    client, session = _signed_in(operator)
    left = session.expire_date - timezone.now()
    assert timedelta(hours=11, minutes=59) < left <= timedelta(hours=12)
    assert client.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == 12 * 3600


@pytest.mark.django_db
def test_activity_moves_the_idle_expiry_forward(operator):
    client, session = _signed_in(operator)
    # Two idle hours later (as the session records it), ten minutes before it would expire:
    session.expire_date = timezone.now() + timedelta(minutes=10)
    _rewrite(session, **{sessions.SEEN: time.time() - 2 * 3600})
    assert client.get("/devices/").status_code == 200
    refreshed = Session.objects.get(pk=session.pk).expire_date - timezone.now()
    assert refreshed > timedelta(hours=11, minutes=59)


@pytest.mark.django_db
def test_an_idle_session_is_signed_out(operator):
    client, session = _signed_in(operator)
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/devices/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_a_busy_session_still_ends_at_its_absolute_maximum(operator):
    assert settings.SESSION_MAX_AGE_S == 14 * 24 * 3600
    client, session = _signed_in(operator)
    _rewrite(session, **{sessions.STARTED: time.time() - 14 * 24 * 3600 - 60})
    response = client.get("/devices/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert not Session.objects.filter(pk=session.pk).exists()


def _settings_with(**variables: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_AGE, "
        "s.SESSION_MAX_AGE_S)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "console.settings", **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_cookies_are_secure_behind_https_and_the_timeouts_configurable(tmp_path):
    var = str(tmp_path)
    assert _settings_with(VANTAGE_VAR_DIR=var, CONSOLE_URL="https://vantage.example.com") == (
        f"True True {12 * 3600} {14 * 24 * 3600}"
    )
    assert (
        _settings_with(
            VANTAGE_VAR_DIR=var,
            CONSOLE_URL="http://127.0.0.1:8000",
            SESSION_IDLE_MINUTES="30",
            SESSION_MAX_AGE_HOURS="8",
        )
        == f"False False {30 * 60} {8 * 3600}"
    )
