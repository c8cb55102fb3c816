"""Sign-in throttling: what the login page says once django-axes has locked a sign-in out.

After ``LOGIN_FAILURE_LIMIT`` wrong passwords for one user name from one address, axes refuses
that pair for ``LOGIN_LOCKOUT_MINUTES`` (even with the right password), and every further try
during the lock starts the period again. The page is the login page itself, with the reason,
so a person knows what happened and how long to wait; the status is 429.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    minutes = lockout_minutes()
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins; try again in {minutes} {unit}."


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: Any = None
) -> HttpResponse:
    """axes' AXES_LOCKOUT_CALLABLE: the login page with the lockout message, as a 429."""
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {
        "form": form,
        "locked_out": lockout_message(),
        "next": request.POST.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)


def client_address(request: HttpRequest) -> str | None:
    """The address axes counts failures by: REMOTE_ADDR only. X-Forwarded-For is the client's
    to write; behind a proxy, uvicorn --proxy-headers puts the real address in REMOTE_ADDR."""
    return request.META.get("REMOTE_ADDR")
