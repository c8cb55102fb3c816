from django.urls import path

from applications import agent_api

urlpatterns = [
    path("assets/<str:sha256>", agent_api.asset, name="agent-asset"),
]
