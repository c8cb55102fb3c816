"""ASGI entry point: HTTP through Django, WebSockets through Channels."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from console.live import mark_serving_asgi  # noqa: E402
from console.routing import websocket_urlpatterns  # noqa: E402
from devicelink import LINK_PATH  # noqa: E402
from devices.link import DeviceLinkConsumer  # noqa: E402

mark_serving_asgi()

browser_websockets = AllowedHostsOriginValidator(
    AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
)
device_link = DeviceLinkConsumer.as_asgi()


async def websocket_router(scope, receive, send):
    # Appliances authenticate with signed requests, not sessions, and send no Origin: their
    # link bypasses the browser checks and does its own.
    if scope["path"] == LINK_PATH:
        return await device_link(scope, receive, send)
    return await browser_websockets(scope, receive, send)


application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_router})
