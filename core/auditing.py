"""Who made a change, for the audit log, when the request was not signed in with a session.

django-auditlog's middleware (console/audit.py) names the actor from ``request.user`` before
the view runs. Only session users are known then: the REST API's bearer tokens are checked by
DRF inside the view, and the Panorama API's SigV4 signatures by its own view, so their changes
were logged with no actor. Those authenticators call :func:`record_actor` once they know who
signed the request.
"""

from __future__ import annotations

from auditlog.context import auditlog_value
from django.contrib.auth.base_user import AbstractBaseUser


def record_actor(user: AbstractBaseUser) -> None:
    """Name ``user`` as the actor of the changes the current request makes.

    The middleware keeps its per-request data in a dict held by a context variable; the dict is
    shared with every thread and task the request runs in (asgiref copies the context, not the
    dict), so filling in the actor here reaches the log entries the view writes later. Outside
    a request (a task, the shell) there is nothing to fill in, and an actor the middleware
    already found (a session user) is kept.
    """
    try:
        data = auditlog_value.get()
    except LookupError:
        return
    if data.get("actor") is None:
        data["actor"] = user
