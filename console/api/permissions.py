"""The role matrix for API views: each view sets ``policy`` (core/roles.py)."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from core.models import APIToken
from core.roles import has_role


class RolePermission(BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        policy = getattr(view, "policy", None)
        if policy is None:
            self.message = f"{type(view).__name__} declares no policy."
            return False
        if not request.user or not request.user.is_authenticated:
            return False
        writing = request.method not in SAFE_METHODS
        if writing and isinstance(request.auth, APIToken) and request.auth.read_only:
            self.message = "This token is read-only; it cannot change anything."
            return False
        needed = policy.needed_for(request.method)
        if not has_role(request.user, needed):
            self.message = f"This needs the {needed.label} role."
            return False
        return True
