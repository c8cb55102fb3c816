"""Rules that keep an installation administrable."""

from __future__ import annotations

from console.models import User
from console.roles import Role


def _is_admin(role: str, is_superuser: bool, is_active: bool) -> bool:
    return is_active and (is_superuser or role == Role.ADMINISTRATOR)


def lockout_problem(actor: User, target: User, *, role: str, is_active: bool) -> str | None:
    """Why changing ``target`` to (role, is_active) is refused, or None if it is fine."""
    if actor.pk == target.pk and not _is_admin(role, target.is_superuser, is_active):
        return "You cannot remove your own administrator role or deactivate yourself."
    was_admin = _is_admin(target.role, target.is_superuser, target.is_active)
    if was_admin and not _is_admin(role, target.is_superuser, is_active):
        others = (
            User.objects.filter(is_active=True)
            .exclude(pk=target.pk)
            .filter(is_superuser=True)
            .exists()
            or User.objects.filter(is_active=True, role=Role.ADMINISTRATOR)
            .exclude(pk=target.pk)
            .exists()
        )
        if not others:
            return "This is the last active administrator; make someone else one first."
    return None
