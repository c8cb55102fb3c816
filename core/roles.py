"""Roles and the permission matrix (docs/roles.md).

Three roles, each including the one before it:

* Viewer: reads everything except secrets.
* Operator: also registers cameras, deploys and controls applications, reboots devices.
* Administrator: also provisions and deletes devices, manages users, API tokens and software
  images.

Every HTML view and API view declares the role it needs to read and the role it needs to
change something (``ViewPolicy``). A view that declares nothing serves nobody (HTML views fail
with ImproperlyConfigured, API views refuse every role), and a test walks the URL configuration
to find such views before they ship.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMINISTRATOR = "administrator", "Administrator"


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMINISTRATOR: 3}


def role_of(user) -> Role | None:
    """The effective role of a user, or None for anonymous and inactive users."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.ADMINISTRATOR
    return Role(user.role)


def has_role(user, needed: Role) -> bool:
    role = role_of(user)
    return role is not None and _RANK[role] >= _RANK[needed]


@dataclass(frozen=True)
class ViewPolicy:
    """The role needed to read (GET, HEAD, OPTIONS) and the role needed to change."""

    read: Role = Role.VIEWER
    write: Role = Role.OPERATOR

    def needed_for(self, method: str) -> Role:
        return self.read if method.upper() in SAFE_METHODS else self.write


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Policies by kind of view, named so that views say what they are rather than which role.
READ_OPERATE = ViewPolicy(read=Role.VIEWER, write=Role.OPERATOR)
READ_ADMINISTER = ViewPolicy(read=Role.VIEWER, write=Role.ADMINISTRATOR)
ADMIN_ONLY = ViewPolicy(read=Role.ADMINISTRATOR, write=Role.ADMINISTRATOR)
# Pages that exist only to change something (add and edit forms, delete confirmations).
OPERATE_ONLY = ViewPolicy(read=Role.OPERATOR, write=Role.OPERATOR)
# Pages any signed-in user may use for themselves (the dashboard, their own password).
ANY_USER = ViewPolicy(read=Role.VIEWER, write=Role.VIEWER)
