"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from applications.assets import asset_upload_limit  # noqa: E402
from console.routing import websocket_urlpatterns  # noqa: E402
from core.bodylimit import BodyLimitMiddleware  # noqa: E402
from core.live import mark_serving_asgi  # noqa: E402
from core.origin import SameOriginValidator  # noqa: E402
from devicelink import LINK_PATH  # noqa: E402
from devices.link import DeviceLinkConsumer  # noqa: E402

mark_serving_asgi()

# The garbage collector, tuned for a server holding a thousand device links (issue #15). With
# the defaults, a full collection ran every ten seconds or so at 100 heartbeats/s and held the
# GIL for 100-400 ms each time on a 2-core machine: every heartbeat in flight waited (the p99).
# What exists now (Django, the URL map, the app) lives as long as the process: freeze it out of
# every collection. And collect young objects less often, so that fewer of the many short-lived
# ones (a heartbeat's coroutines and futures) are caught in flight and promoted, which is what
# kept triggering full collections. Cyclic garbage is still collected, later.
gc.freeze()
gc.set_threshold(50_000, 20, 100)

browser_websockets = AllowedHostsOriginValidator(
    SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
)
device_link = DeviceLinkConsumer.as_asgi()


async def websocket_router(scope, receive, send):
    # Appliances authenticate with signed requests, not sessions, and send no Origin: their
    # link bypasses the browser checks and does its own.
    if scope["path"] == LINK_PATH:
        return await device_link(scope, receive, send)
    return await browser_websockets(scope, receive, send)


# Asset uploads over their size limit or the store's quota are refused before Django reads
# their body (core/bodylimit.py).
http_app = BodyLimitMiddleware(django_asgi_app, asset_upload_limit)

application = ProtocolTypeRouter({"http": http_app, "websocket": websocket_router})
