from django.urls import path

from console.consumers import LiveStatusConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveStatusConsumer.as_asgi()),
]
