from django.urls import path

from devices import agent_api

urlpatterns = [
    path("provision", agent_api.provision, name="agent-provision"),
    path("software/<str:version>", agent_api.software_bundle, name="agent-software"),
    path("assets/<str:sha256>", agent_api.asset, name="agent-asset"),
]
