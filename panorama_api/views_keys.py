"""Access keys in the console (Settings → Access keys), for administrators.

An access key signs Panorama API requests (SigV4) as its user. Its secret is shown in the one
response that creates it (``Cache-Control: no-store``) and never again: not in the list, not in
messages, not in the audit log (``secret_encrypted`` is excluded from it).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django_tables2 import SingleTableView

from core.access import PolicyMixin
from core.roles import ADMIN_ONLY
from panorama_api.forms import AccessKeyCreateForm
from panorama_api.models import AccessKey
from panorama_api.tables import AccessKeyTable


class AccessKeyListView(PolicyMixin, SingleTableView):
    policy = ADMIN_ONLY
    model = AccessKey
    table_class = AccessKeyTable
    template_name = "panorama_api/access_key_list.html"

    def get_queryset(self):
        return AccessKey.objects.select_related("user")

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            endpoint_url=_endpoint_url(self.request), region=settings.PANORAMA_API_REGION, **kwargs
        )


class AccessKeyCreateView(PolicyMixin, View):
    policy = ADMIN_ONLY

    def get(self, request: HttpRequest) -> HttpResponse:
        form = AccessKeyCreateForm(initial={"user": request.GET.get("user")})
        return render(request, "panorama_api/access_key_form.html", {"form": form})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AccessKeyCreateForm(request.POST)
        if not form.is_valid():
            return render(request, "panorama_api/access_key_form.html", {"form": form}, status=400)
        key, secret = AccessKey.make(form.cleaned_data["user"], form.cleaned_data["description"])
        # The secret is in this one response and never again.
        response = render(
            request,
            "panorama_api/access_key_created.html",
            {
                "key": key,
                "secret": secret,
                "endpoint_url": _endpoint_url(request),
                "region": settings.PANORAMA_API_REGION,
            },
        )
        response["Cache-Control"] = "no-store"
        return response


class AccessKeyEnableView(PolicyMixin, View):
    """POST ``enabled=0`` disables the key (requests signed with it get 403), ``1`` enables it."""

    policy = ADMIN_ONLY

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        key = get_object_or_404(AccessKey, pk=pk)
        key.enabled = request.POST.get("enabled") == "1"
        key.save(update_fields=["enabled"])
        state = "enabled" if key.enabled else "disabled"
        messages.success(request, f"Access key {key.access_key_id} {state}.")
        return redirect("access-key-list")


class AccessKeyDeleteView(PolicyMixin, View):
    policy = ADMIN_ONLY

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        key = get_object_or_404(AccessKey, pk=pk)
        key.delete()
        messages.success(request, f"Access key {key.access_key_id} deleted.")
        return redirect("access-key-list")


def _endpoint_url(request: HttpRequest) -> str:
    """The URL integrators give boto3 and ``aws --endpoint-url``: the console's, plus /panorama."""
    return settings.CONSOLE_URL.rstrip("/") + "/panorama"
