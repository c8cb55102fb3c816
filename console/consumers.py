"""The browser's live-status WebSocket: ``/ws/live/?groups=fleet,device-<id>``."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from applications.models import ApplicationInstance
from core.groups import FLEET, GROUP_PATTERN
from core.live import MESSAGE_TYPE
from core.roles import Role, has_role
from devices.models import Device

logger = logging.getLogger(__name__)

MAX_GROUPS = 20
# Close codes in the 4000 range are ours: the page's script reads them.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_REQUEST = 4400


def _visible(group: str) -> bool:
    """Whether ``group`` is a live-status group of something that exists.

    The pattern alone would let a page join any ``device-…`` name, such as one that an internal
    group might some day be given (``device-output-…`` once was the HDMI frames' group), and so
    read what is sent there. A group is joined only when it names the fleet, or a device or an
    application instance that exists. Every role may watch every such group today: live
    fragments carry no secrets. Per-object visibility, when it comes, is decided here too.
    """
    if group == FLEET:
        return True
    if not GROUP_PATTERN.match(group):
        return False
    kind, _, key = group.partition("-")
    if kind == "device":
        return Device.objects.filter(device_id=key).exists()
    if kind == "app":
        return ApplicationInstance.objects.filter(application_instance_id=key).exists()
    return False


@database_sync_to_async
def _refused(groups: list[str]) -> list[str]:
    return [group for group in groups if not _visible(group)]


class LiveStatusConsumer(AsyncWebsocketConsumer):
    """Joins the groups the page asks for and forwards each rendered fragment as a text frame."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not has_role(user, Role.VIEWER):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        asked = [g for value in query.get("groups", []) for g in value.split(",") if g]
        if not asked or len(asked) > MAX_GROUPS:
            await self.close(code=CLOSE_BAD_REQUEST, reason=f"Ask for 1 to {MAX_GROUPS} groups.")
            return
        refused = await _refused(asked)
        if refused:
            # The close frame's reason (at most 123 bytes) names what was refused.
            reason = f"No such live group: {refused[0][:90]}"
            await self.close(code=CLOSE_BAD_REQUEST, reason=reason)
            return
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

    async def dispatch(self, message: dict) -> None:
        """Channels raises on a message type without a handler, which ends the socket; a
        message that is not a live fragment (one sent to a group by mistake) is dropped, and
        no other method can be reached by naming it as a type."""
        kind = message.get("type")
        if kind == MESSAGE_TYPE or (isinstance(kind, str) and kind.startswith("websocket.")):
            await super().dispatch(message)
            return
        logger.warning("live socket: dropped a %r message", kind)

    async def live_fragment(self, event: dict) -> None:
        await self.send(text_data=event["html"])
