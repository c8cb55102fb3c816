"""The browser's live-status WebSocket: ``/ws/live/?groups=fleet,device-<id>``."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from core.groups import GROUP_PATTERN
from core.roles import Role, has_role

MAX_GROUPS = 20
# Close codes in the 4000 range are ours: the page's script reads them.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_REQUEST = 4400


class LiveStatusConsumer(AsyncWebsocketConsumer):
    """Joins the groups the page asks for and forwards each rendered fragment as a text frame."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not has_role(user, Role.VIEWER):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        asked = [g for value in query.get("groups", []) for g in value.split(",") if g]
        if not asked or len(asked) > MAX_GROUPS or not all(GROUP_PATTERN.match(g) for g in asked):
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        # Every role may watch every group today: live fragments carry no secrets. Per-object
        # visibility, when it comes, is decided here.
        self.joined = sorted(set(asked))
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # The page only listens; htmx's ws extension may send form data, which we ignore.
        return

    async def live_fragment(self, event: dict) -> None:
        await self.send(text_data=event["html"])
