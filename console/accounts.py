"""Rules that keep an installation administrable."""

from __future__ import annotations

from django.db.models import Q

from core.models import User
from core.roles import Role


def _is_admin(role: str, is_superuser: bool, is_active: bool) -> bool:
    return is_active and (is_superuser or role == Role.ADMINISTRATOR)


def lockout_problem(actor: User, target: User, *, role: str, is_active: bool) -> str | None:
    """Why changing ``target`` to (role, is_active) is refused, or None if it is fine.

    Call it inside the transaction that saves the change: it locks the active administrators'
    rows, so two administrators demoting each other at once cannot both succeed.
    """
    if actor.pk == target.pk and not _is_admin(role, target.is_superuser, is_active):
        return "You cannot remove your own administrator role or deactivate yourself."
    was_admin = _is_admin(target.role, target.is_superuser, target.is_active)
    if was_admin and not _is_admin(role, target.is_superuser, is_active):
        administrators = User.objects.select_for_update().filter(
            Q(is_superuser=True) | Q(role=Role.ADMINISTRATOR), is_active=True
        )
        if not [pk for pk in administrators.values_list("pk", flat=True) if pk != target.pk]:
            return "This is the last active administrator; make someone else one first."
    return None
