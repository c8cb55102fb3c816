"""Enforcing the role matrix on HTML views (the API does the same in console/api/permissions.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse

from core.roles import ViewPolicy, has_role


def check_policy(request: HttpRequest, policy: ViewPolicy | None, view_name: str) -> None:
    if policy is None:
        raise ImproperlyConfigured(f"{view_name} declares no ViewPolicy; every view must.")
    needed = policy.needed_for(request.method or "GET")
    if not has_role(request.user, needed):
        raise PermissionDenied(f"This needs the {needed.label} role.")


class PolicyMixin:
    """Class-based views: set ``policy``. Anonymous users are sent to the login page."""

    policy: ViewPolicy | None = None

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        check_policy(request, self.policy, type(self).__name__)
        return super().dispatch(request, *args, **kwargs)


def policy_required(policy: ViewPolicy) -> Callable:
    """Function views: ``@policy_required(READ_OPERATE)``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            check_policy(request, policy, view.__name__)
            return view(request, *args, **kwargs)

        wrapped.policy = policy  # type: ignore[attr-defined]
        return wrapped

    return decorator
