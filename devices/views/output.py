"""``GET /devices/<id>/output.mjpeg``: the appliance's HDMI output as an MJPEG stream.

An async view: each open stream is one coroutine waiting on the channel layer, not a thread.
See devices/output.py for the flow between the page, the link and the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from channels.layers import get_channel_layer
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse

from core import groups
from core.roles import READ_ADMINISTER, has_role
from devices.models import Device
from devices.output import NOBODY, RENEW_S, WATCH_S, placeholder

logger = logging.getLogger(__name__)
BOUNDARY = "frame"
# Without a frame for this long, the stream says so (the appliance is offline, or old).
SILENCE_S = 10.0
WAITING = "Waiting for the appliance's output..."
SILENT = "The appliance sends no output. Is it online?"
NO_APPLICATION = "No application shows output on this appliance."


def part(jpeg: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return head.encode("ascii") + jpeg + b"\r\n"


async def frames(device_id: str) -> AsyncIterator[bytes]:
    """The MJPEG body: asks the appliance for frames while it is being read, and stops asking
    when the client goes away (the ASGI handler cancels this generator on disconnect)."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = groups.output(device_id)
    await layer.group_add(group, channel)

    async def renew() -> None:
        while True:
            await layer.group_send(
                groups.link(device_id),
                {"type": "link.output_watch", "until": time.time() + WATCH_S},
            )
            await asyncio.sleep(RENEW_S)

    renewing = asyncio.create_task(renew())
    try:
        yield part(placeholder(WAITING))
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), SILENCE_S)
            except TimeoutError:
                yield part(placeholder(SILENT))
                continue
            # A slow reader gets the newest frame, not a growing backlog of old ones.
            with contextlib.suppress(TimeoutError):
                while True:
                    message = await asyncio.wait_for(layer.receive(channel), 0.001)
            jpeg = message.get("jpeg") or b""
            if not jpeg or message.get("owner") == NOBODY:
                jpeg = placeholder(NO_APPLICATION)
            yield part(jpeg)
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        await layer.group_discard(group, channel)


async def output_stream(request: HttpRequest, device_id: str) -> HttpResponse:
    # The user is loaded asynchronously: request.user would query the database from the loop.
    user = await request.auser()
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    needed = output_stream.policy.needed_for(request.method or "GET")
    if not has_role(user, needed):
        raise PermissionDenied(f"This needs the {needed.label} role.")
    if request.method != "GET":
        return HttpResponse(status=405, headers={"Allow": "GET"})
    if not await Device.objects.filter(device_id=device_id).aexists():
        raise Http404("No such device.")
    response = StreamingHttpResponse(
        frames(device_id), content_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # a proxy must pass each frame on as it comes
    return response


output_stream.policy = READ_ADMINISTER  # type: ignore[attr-defined]
