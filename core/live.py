"""Live status: ``broadcast()`` renders partials and sends them to channel-layer groups.

Browser pages subscribe to groups (``fleet``, ``device-<id>``, ``app-<id>``, named in
``core/groups.py``) over the WebSocket consumer in ``console/consumers.py``; htmx's ws extension
swaps each received element into the page by its id. The same partials render the initial page,
so there is one template per thing shown.

With Redis configured every process reaches the channel layer directly. With the embedded
in-memory layer only the ASGI server process holds the subscribers, so other processes (the
Celery worker, ``manage.py shell``) hand their messages to the server over a small signed HTTP
relay (``relay_view``). Live updates are best effort: a page always renders the current state
when loaded, so a lost update is corrected by the next one or a reload.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import redis
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.groups import GROUP_PATTERN, LINK_GROUP_PATTERN

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "live.fragment"
# The messages other processes may send to device link connections (core/groups.py).
# link.check_stream carries only a check's id, never credentials (datasources/appliance.py).
LINK_MESSAGE_TYPES = frozenset({"link.desired", "link.revoke", "link.check_stream"})
RELAY_PATH = "/_internal/live-relay"
RELAY_MAX_AGE_S = 60


class _ProcessRole:
    # Set by console/asgi.py when this process serves ASGI, where the in-memory layer is real.
    serving_asgi = False


def mark_serving_asgi() -> None:
    _ProcessRole.serving_asgi = True


def broadcast(
    groups: str | Iterable[str],
    template: str,
    context: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
) -> None:
    """Render ``template`` (``"file.html#partial"`` allowed) and send it to ``groups``.

    Sent after the surrounding transaction commits, so subscribers never see a state that is
    later rolled back; a callable ``context`` is evaluated then too, so it reads the committed
    state. The fragment must not depend on who watches: every member of a group receives the
    same HTML, so it must carry no secrets. A failure to send is logged, never raised: the
    change itself has been committed, and live updates are best effort.
    """
    group_list = [groups] if isinstance(groups, str) else list(groups)
    for group in group_list:
        if not GROUP_PATTERN.match(group):
            raise ValueError(f"broadcast: {group!r} is not a live-status group name")

    def send() -> None:
        watched = watched_groups(group_list)
        if not watched:
            return
        html = render_to_string(template, dict(context() if callable(context) else context))
        deliver(watched, html)

    transaction.on_commit(send, robust=True)


def watched_groups(groups: list[str]) -> list[str]:
    """The groups of ``groups`` that some page subscribes to, where the layer can tell.

    Rendering is most of what a live update costs, and most groups are empty: the device link
    broadcasts every heartbeat of every device to its ``device-<id>`` group, and nobody has a
    thousand device pages open. A page that subscribes after this check misses nothing: it
    joins its groups before its socket opens, and then re-reads its regions (resync), which
    sees every change committed before the check.

    Only the Redis layer knows the subscribers of every process; otherwise (the in-memory
    layer, whose subscribers may be in another process) every group counts as watched, as
    does every group when Redis cannot be asked: a live update is better sent for nothing than
    lost.
    """
    layer = get_channel_layer()
    if not isinstance(layer, RedisChannelLayer):
        return groups
    try:
        return groups_with_members(layer, groups)
    except Exception:
        logger.warning("live update: cannot tell who watches %s; sending", groups, exc_info=True)
        return groups


def groups_with_members(layer: RedisChannelLayer, groups: list[str]) -> list[str]:
    """Groups with a member on channels-redis: its sorted set of channels, members younger
    than ``group_expiry`` (what ``group_send`` itself would send to)."""
    oldest = int(time.time()) - layer.group_expiry
    return [
        group
        for group in groups
        if _redis(layer, layer.consistent_hash(group)).zcount(
            layer._group_key(group), oldest, "+inf"
        )
    ]


_redis_clients: dict[tuple[int, int], redis.Redis] = {}
_redis_clients_lock = threading.Lock()


def _redis(layer: RedisChannelLayer, index: int) -> redis.Redis:
    """A synchronous client for the layer's ``index``th Redis, one per process and host.

    The caller is synchronous code in a worker thread; asking through the layer's own asyncio
    client would hop to the event loop and back, which at a hundred heartbeats a second waits
    on a loop busy with every device's socket.
    """
    with _redis_clients_lock:
        client = _redis_clients.get((id(layer), index))
        if client is None:
            host = dict(layer.hosts[index])
            if "address" in host:
                client = redis.Redis.from_url(host.pop("address"), **host)
            else:
                client = redis.Redis(**host)
            _redis_clients[(id(layer), index)] = client
        return client


def _run(make: Callable[[], Any]) -> Any:
    """Run the coroutine ``make()`` returns from synchronous code; its result."""

    async def run() -> Any:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return async_to_sync(run)()
    # Synchronous code with an event loop running in its thread (a script driving a browser
    # with Playwright's sync API, say) cannot use async_to_sync here: run in a helper thread.
    result: list[Any] = []
    helper = threading.Thread(target=lambda: result.append(async_to_sync(run)()), daemon=True)
    helper.start()
    helper.join(timeout=10)
    if not result:
        raise TimeoutError("the channel layer did not answer within 10 s")
    return result[0]


def _group_send(layer, groups: list[str], message: dict[str, Any]) -> None:
    """``group_send`` to each group from synchronous code."""

    async def send_all() -> None:
        for group in groups:
            await layer.group_send(group, message)

    try:
        _run(send_all)
    except TimeoutError:
        logger.info("live update to %s: the channel layer did not answer in time", groups)


def deliver(groups: list[str], html: str) -> None:
    """Send an already rendered fragment to groups, from any process."""
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer) and not _ProcessRole.serving_asgi:
        _relay_to_server(groups, html)
        return
    _group_send(layer, groups, {"type": MESSAGE_TYPE, "html": html})


def send_to_link(group: str, message: dict[str, Any]) -> None:
    """Send a channel message to a device's link connection, from any process, after commit."""
    if not LINK_GROUP_PATTERN.match(group) or message.get("type") not in LINK_MESSAGE_TYPES:
        raise ValueError(f"send_to_link: {group!r} / {message.get('type')!r} not allowed")

    def send() -> None:
        layer = get_channel_layer()
        if isinstance(layer, InMemoryChannelLayer) and not _ProcessRole.serving_asgi:
            _relay({"groups": [group], "message": message})
        else:
            _group_send(layer, [group], message)

    transaction.on_commit(send, robust=True)


def _relay_key() -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), b"vantage-live-relay", hashlib.sha256).digest()


def _sign(body: bytes) -> str:
    return hmac.new(_relay_key(), body, hashlib.sha256).hexdigest()


def _relay_to_server(groups: list[str], html: str) -> None:
    _relay({"groups": groups, "html": html})


def _relay(payload: dict[str, Any]) -> None:
    body = json.dumps({**payload, "sent": time.time()}).encode()
    request = urllib.request.Request(  # noqa: S310
        settings.LIVE_RELAY_URL + RELAY_PATH,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Vantage-Signature": _sign(body),
            # The relay URL may be a local address; the console answers to its public name.
            "Host": urlsplit(settings.CONSOLE_URL).netloc,
        },
    )
    try:
        # LIVE_RELAY_URL is validated as http(s) at start (console/settings.py).
        with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310
            response.read()
    except OSError as exc:
        # The console may simply not be running (a shell on a stopped stack): nobody watches.
        logger.info("live update not relayed to %s: %s", settings.LIVE_RELAY_URL, exc)


@csrf_exempt
@require_POST
def relay_view(request: HttpRequest) -> HttpResponse:
    """Accept a fragment relayed by another process of this installation (signed with the key)."""
    signature = request.headers.get("X-Vantage-Signature", "")
    if not hmac.compare_digest(signature, _sign(request.body)):
        return JsonResponse({"detail": "bad signature"}, status=403)
    try:
        payload = json.loads(request.body)
        sent = float(payload["sent"])
        if "message" in payload:
            message = dict(payload["message"])
            if message.get("type") not in LINK_MESSAGE_TYPES:
                raise ValueError("not a link message")
            groups = [g for g in payload["groups"] if LINK_GROUP_PATTERN.match(g)]
        else:
            message = {"type": MESSAGE_TYPE, "html": str(payload["html"])}
            groups = [g for g in payload["groups"] if GROUP_PATTERN.match(g)]
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"detail": "malformed relay message"}, status=400)
    if abs(time.time() - sent) > RELAY_MAX_AGE_S:
        return JsonResponse({"detail": "stale relay message"}, status=403)
    send = async_to_sync(get_channel_layer().group_send)
    for group in groups:
        send(group, message)
    return JsonResponse({"delivered": len(groups)})


def request_resync(groups: str | Iterable[str]) -> None:
    """Something new exists that open pages have no element for yet (a new row): every page in
    ``groups`` re-reads its live regions, as it does after a reconnect."""
    broadcast(groups, "partials/resync_request.html", lambda: {"sent": time.time()})
