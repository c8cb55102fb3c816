"""The Panorama API's one view: authenticate, authorize, throttle, route, parse, run, answer."""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from core import errors as domain
from core.auditing import record_actor
from core.roles import has_role, role_of
from panorama_api import auth, protocol, throttle
from panorama_api.call import Call
from panorama_api.errors import AccessDenied, ApiError, InternalError, Unavailable, ValidationError
from panorama_api.registry import OPERATIONS

logger = logging.getLogger(__name__)


@csrf_exempt
def dispatch(request: HttpRequest, path: str = "") -> HttpResponse:
    try:
        try:
            route, labels = protocol.match(request.method or "GET", "/" + path)
        except ValidationError:
            auth.authenticate(request)  # an unsigned request is refused as such, first
            raise
        prefix = request.path[: len(request.path) - len(path) - 1]
        wire = {m: route.operation.input_shape.members[m].serialization.get("name", m)
                for m in route.labels}  # fmt: skip
        key = auth.authenticate(
            request,
            auth.signed_path(prefix, route.operation.http["requestUri"], labels,
                             {w: m for m, w in wire.items()}),
        )  # fmt: skip
        record_actor(key.user)  # the audit log's actor (core/auditing.py)
        name = route.operation.name
        operation = OPERATIONS.get(name)
        if operation is None:
            raise ValidationError(
                f"{name} is not served by this console.", reason="UNKNOWN_OPERATION"
            )
        user = key.user
        if not has_role(user, operation.role):
            role = role_of(user)
            raise AccessDenied(
                f"User {user.get_username()} ({role.label if role else 'no role'}) is not "
                f"allowed to call {name}: it needs the {operation.role.label} role."
            )
        call = Call(user=user, access_key_id=key.access_key_id, operation=name)
        throttle.check(call.account, operation.mutating)
        members = protocol.parse(route, labels, request)
        with transaction.atomic():
            result = operation.handler(call, **members)
        return protocol.respond(route.operation, result or {})
    except ApiError as error:
        return protocol.error_response(error)
    except domain.ServiceUnavailable as error:
        # The transaction above is rolled back: nothing of the call was saved.
        return protocol.error_response(Unavailable(error.message, error.retry_after_s))
    except Exception:
        logger.exception("The Panorama API failed on %s %s", request.method, request.path)
        return protocol.error_response(
            InternalError("The console could not complete the request; try again.")
        )
