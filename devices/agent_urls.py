from django.urls import path

from devices import agent_api

urlpatterns = [
    path("provision", agent_api.provision, name="agent-provision"),
    path("software/<str:version>", agent_api.software_bundle, name="agent-software"),
]
