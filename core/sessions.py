"""Idle and absolute session timeouts.

A session ends after ``SESSION_IDLE_MINUTES`` without a request (``SESSION_COOKIE_AGE``: the
session's expiry in the database and the cookie's), and in any case ``SESSION_MAX_AGE_HOURS``
after sign-in, however busy. Each request of a signed-in user moves the idle expiry forward,
but at most once a minute: a session write per request would put a database write on every
page, partial and API call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

STARTED = "_vantage_started"
SEEN = "_vantage_seen"
REFRESH_EVERY_S = 60


class SessionTimeoutMiddleware:
    """After AuthenticationMiddleware: signs out a session past its absolute age, and keeps an
    active one from reaching its idle expiry."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and session.get("_auth_user_id") is not None:
            now = time.time()
            started = session.get(STARTED)
            if started is None:
                # The first request after sign-in (or of a session signed in before this
                # middleware existed): the absolute age counts from here.
                session[STARTED] = now
                session[SEEN] = now
            elif now - started > settings.SESSION_MAX_AGE_S:
                logout(request)  # flushes the session; login_required pages then redirect
            elif now - session.get(SEEN, 0) >= REFRESH_EVERY_S:
                # A modified session is saved with a new expiry (SESSION_COOKIE_AGE from now),
                # in the database and in the cookie.
                session[SEEN] = now
        return self.get_response(request)
