"""A request body limit enforced in front of Django, at the ASGI level.

Django's ASGI handler reads a whole request body (to a temporary file) before any view runs,
so a view cannot refuse a 1 GiB upload before it has been received. This middleware can: a
request whose Content-Length is over the limit gets 413 without a byte of its body being read,
and one that announces no length (chunked) is cut off, with the same 413, as soon as what it
sent passes the limit. ``limit_for`` decides per request which limit applies (None: none).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

# The most bytes a body may have, and the sentence that says why a larger one is refused.
Limit = tuple[int, str]
LimitFor = Callable[[dict[str, Any]], Awaitable[Limit | None]]
ASGIApp = Callable[..., Awaitable[None]]


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Callable[[dict], Awaitable[None]], limit: Limit) -> None:
    body = json.dumps({"detail": limit[1], "limit_bytes": limit[0]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit_for: LimitFor) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = await self.limit_for(scope)
        if limit is None:
            return await self.app(scope, receive, send)
        announced = _content_length(scope)
        if announced is not None and announced > limit[0]:
            return await _refuse(send, limit)
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit[0]:
                    # Django's handler takes a disconnect as the client gone and answers
                    # nothing; the 413 is sent below. The rest of the body is never read.
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)
        if exceeded and not started:
            await _refuse(send, limit)
