"""Browsers' websockets come from this console's own pages only.

Channels' AllowedHostsOriginValidator compares the Origin's host with ALLOWED_HOSTS and ignores
its port, so a page served by anything else on the same host (another port) could open the
live socket with the operator's session cookie. Here the Origin must be the origin the request
was made to (its Host header, port included) or the console's own (CONSOLE_URL, for a reverse
proxy that rewrites Host).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.lower()


def same_origin(origin: str, host: str) -> bool:
    """Whether a websocket's ``origin`` is the host it connected to, or the console's own."""
    netloc = _netloc(origin)
    if not netloc:
        return False
    return netloc == host.lower() or netloc == _netloc(settings.CONSOLE_URL)


class SameOriginValidator:
    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if not same_origin(origin, host):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
