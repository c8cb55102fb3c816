"""Which function serves which operation of the service model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.roles import Role
from panorama_api.protocol import service_model

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    name: str
    handler: Handler
    role: Role  # what the caller's user needs (a Viewer's key cannot mutate)
    mutating: bool  # counts against the mutating-calls rate (1/s by default)


OPERATIONS: dict[str, Operation] = {}


def operation(name: str, *, role: Role | None = None, mutating: bool | None = None):
    """Register ``handler(call, **members)`` for operation ``name``.

    By default an operation whose HTTP method is GET is a read (Viewer) and any other mutates
    (Operator); pass ``role`` for what needs more, as the console's pages do (provisioning and
    deleting devices, for one, are the Administrator's).
    """

    def register(handler: Handler) -> Handler:
        http = service_model().operation_model(name).http
        reads = http["method"] == "GET"
        mutates = (not reads) if mutating is None else mutating
        needed = role or (Role.VIEWER if not mutates else Role.OPERATOR)
        if name in OPERATIONS:
            raise RuntimeError(f"operation {name} is registered twice")
        OPERATIONS[name] = Operation(name, handler, needed, mutates)
        return handler

    return register
