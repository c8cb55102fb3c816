"""The console end of the device link: the WebSocket ``/agent/v1/link`` (docs/protocol.md).

The upgrade request must be signed with the device key; a refused one is answered with a plain
HTTP 401/403 and the reason as JSON (where the server supports ASGI's denial response), before
any WebSocket exists. One connection per device: a newer one replaces the older (4409).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.db import connections

from core import groups
from devicelink import (
    CLOSE_PROTOCOL_ERROR,
    CLOSE_REPLACED,
    CLOSE_REVOKED,
    LINK_PATH,
    PROTOCOL_VERSION,
)
from devicelink.auth import LINK_MAX_SKEW_S, AuthError
from devicelink.messages import (
    Ack,
    Heartbeat,
    Hello,
    OutputFrame,
    OutputWatch,
    ProtocolError,
    Report,
    Revoked,
    decode_agent_message,
    encode,
)
from devices import hooks, ingest, output, secrets
from devices.agent_auth import authenticate_device
from devices.desired import build_desired
from devices.models import Device

logger = logging.getLogger(__name__)

# Database work of the link runs on its own threads, several at once, instead of Channels'
# default single thread: with a thousand devices heartbeating, one thread would queue them all
# behind each other. Messages of one connection are still handled one at a time.
_DATABASE_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="device-link")


# channels-redis takes a Redis connection from its pool for each operation in flight and keeps
# it in the pool afterwards: a thousand appliances connecting at once left a thousand
# connections open, five thousand ran Redis out of clients (10,000 by default, for the whole
# installation). The link's group operations wait for one of these slots instead.
_CHANNEL_LAYER_SLOTS = 32
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def channel_layer_slot() -> asyncio.Semaphore:
    """The semaphore bounding the link's channel-layer operations on this event loop."""
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        slot = _slots[loop] = asyncio.Semaphore(_CHANNEL_LAYER_SLOTS)
    return slot


def in_thread(func):
    @functools.wraps(func)
    def closing(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            # Give the connection back (to the pool, on PostgreSQL) instead of holding one
            # per thread for as long as the server runs.
            connections.close_all()

    return database_sync_to_async(closing, thread_sensitive=False, executor=_DATABASE_THREADS)


@in_thread
def _authenticate(header: str | None) -> Device:
    return authenticate_device(header, "GET", LINK_PATH, max_skew_s=LINK_MAX_SKEW_S)


@in_thread
def _desired_document(pk: int) -> str:
    return encode(build_desired(Device.objects.get(pk=pk)))


class DeviceLinkConsumer(AsyncWebsocketConsumer):
    device_pk: int | None = None
    device_id = ""
    session = ""
    greeted = False
    sent_version = -1
    output_owner: str | None = None  # of the last output frame on this connection

    async def dispatch(self, message: dict) -> None:
        # Channels' dispatch first closes stale database connections of the event loop's
        # thread, through the process's one thread for thread-sensitive work: every message of
        # every device would queue there. This consumer uses no connection in that thread; its
        # database work runs in in_thread(), which gives its connections back after each call.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_connect(self, message: dict) -> None:
        headers = {key.decode("latin-1").lower(): value for key, value in self.scope["headers"]}
        header = headers.get("authorization", b"").decode("latin-1") or None
        try:
            device = await _authenticate(header)
        except AuthError as exc:
            logger.warning("device link refused (%s): %s", exc.status, exc.message)
            await self._deny(exc.status, exc.message)
            return
        self.device_pk = device.pk
        self.device_id = device.device_id
        self.session = uuid.uuid4().hex
        self.group = groups.link(device.device_id)
        async with channel_layer_slot():
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.channel_layer.group_send(
                self.group, {"type": "link.replaced", "session": self.session}
            )
        await self.accept()

    async def _deny(self, status: int, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        if "websocket.http.response" in self.scope.get("extensions", {}):
            await self.base_send(
                {
                    "type": "websocket.http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await self.base_send({"type": "websocket.http.response.body", "body": body})
        else:
            await self.close()
        raise StopConsumer()

    async def disconnect(self, code: int) -> None:
        if self.device_pk is not None:
            async with channel_layer_slot():
                await self.channel_layer.group_discard(self.group, self.channel_name)
            if self.greeted:
                await in_thread(ingest.on_disconnect)(self.device_pk, self.session)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = decode_agent_message(text_data or bytes_data or b"")
            if isinstance(message, Hello):
                await self._hello(message)
            elif not self.greeted:
                raise ProtocolError("the first message must be hello")
            elif isinstance(message, OutputFrame):
                await self._output_frame(message)
            elif isinstance(message, Heartbeat):
                result = await in_thread(ingest.on_heartbeat)(self.device_pk, self.session, message)
                await self.send(encode(result.ack))
                await self._send_desired_if_newer(result.desired_version)
            elif isinstance(message, Report):
                await in_thread(ingest.on_report)(self.device_pk, self.session, message)
                await self.send(encode(Ack(seq=message.seq)))
        except ProtocolError as exc:
            logger.warning("device %s: protocol error: %s", self.device_id, exc)
            await self.close(CLOSE_PROTOCOL_ERROR, reason=str(exc)[:120])
        except ingest.LinkGone as exc:
            await self._gone(exc.reason, exc.revoked)

    async def _hello(self, hello: Hello) -> None:
        if hello.protocol != PROTOCOL_VERSION:
            raise ProtocolError(
                f"protocol {hello.protocol} is not spoken here; this console speaks "
                f"{PROTOCOL_VERSION}"
            )
        client = self.scope.get("client") or (None, None)
        transport = secrets.transport_for(self.scope.get("scheme", "ws"), client[0])
        welcome, desired_version = await in_thread(ingest.on_hello)(
            self.device_pk, self.session, hello, transport, client[0] or ""
        )
        self.greeted = True
        self.sent_version = hello.applied_version
        await self.send(encode(welcome))
        await self._send_desired_if_newer(desired_version)
        # What was asked for while this device had no connection here (stream checks).
        for name in hooks.link_claims:
            await self._send_claimed(name, None)

    async def _send_desired_if_newer(self, version: int) -> None:
        if version > self.sent_version:
            document = await _desired_document(self.device_pk)
            self.sent_version = version
            await self.send(document)

    async def _gone(self, reason: str, revoked: bool) -> None:
        if revoked:
            await self.send(encode(Revoked(reason=reason)))
            await self.close(CLOSE_REVOKED, reason=reason[:120])
        else:
            await self.close(CLOSE_REPLACED, reason=reason[:120])

    # --- channel-layer messages -------------------------------------------------------------
    async def link_desired(self, event: dict) -> None:
        if self.greeted:
            try:
                version = await in_thread(ingest.desired_version)(self.device_pk, self.session)
            except ingest.LinkGone as exc:
                await self._gone(exc.reason, exc.revoked)
                return
            await self._send_desired_if_newer(version)

    async def link_check_stream(self, event: dict) -> None:
        """Test a stream from this appliance (datasources/checks.py); the event holds only the
        check's id: the credentials are read here and go out only over this connection."""
        if self.greeted:  # otherwise the hello that follows sends it
            await self._send_claimed("check_stream", event)

    async def _send_claimed(self, name: str, event: dict | None) -> None:
        """Send what the ``name`` claim (hooks.link_claims) returns for this connection."""
        claim = hooks.link_claims[name]
        for message in await in_thread(claim)(self.device_pk, self.session, event):
            await self.send(encode(message))

    # --- "View output" (devices/output.py) -------------------------------------------------
    async def link_output_watch(self, event: dict) -> None:
        if self.greeted:
            await self.send(encode(OutputWatch(until=float(event["until"]))))

    async def _output_frame(self, frame: OutputFrame) -> None:
        try:
            jpeg = base64.b64decode(frame.jpeg, validate=True)
        except binascii.Error:
            jpeg = b""
        if frame.jpeg and not jpeg.startswith(b"\xff\xd8"):
            logger.info("device %s: an output frame that is not a JPEG was dropped", self.device_id)
            return
        owner = frame.application_instance_id if jpeg else output.NOBODY
        await self.channel_layer.group_send(
            groups.output(self.device_id),
            {"type": "output.frame", "jpeg": jpeg, "owner": owner},
        )
        if owner != self.output_owner:
            self.output_owner = owner
            await in_thread(output.owner_changed)(self.device_pk, owner)

    async def link_revoke(self, event: dict) -> None:
        await self._gone(str(event.get("reason", "revoked")), revoked=True)

    async def link_replaced(self, event: dict) -> None:
        if event.get("session") != self.session:
            await self._gone("A newer connection of this device replaced this one.", False)
