"""Runtime roles: named, encrypted environments an application receives on its appliance.

Everyone may read the list (names, descriptions, variable names); administrators add, edit and
delete roles. Values are saved encrypted and never shown again, on any page or to any role.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views import View
from django.views.generic import CreateView, ListView, UpdateView

from applications.forms import RuntimeRoleForm
from applications.models import RuntimeRole
from core.access import PolicyMixin
from core.crypto import SecretUnreadable
from core.roles import ADMIN_ONLY, READ_ADMINISTER, Role, has_role


def _keys(role: RuntimeRole) -> list[str]:
    try:
        return sorted(role.environment())
    except SecretUnreadable:
        return ["(unreadable: CREDENTIALS_KEY changed)"]


class RuntimeRoleListView(PolicyMixin, ListView):
    policy = READ_ADMINISTER
    model = RuntimeRole
    template_name = "applications/runtimerole_list.html"
    context_object_name = "roles"

    def get_context_data(self, **kwargs):
        roles = [(role, _keys(role), role.instances.active().count()) for role in self.object_list]
        return super().get_context_data(
            rows=roles,
            can_administer=has_role(self.request.user, Role.ADMINISTRATOR),
            **kwargs,
        )


class RuntimeRoleFormMixin(PolicyMixin):
    policy = ADMIN_ONLY
    model = RuntimeRole
    form_class = RuntimeRoleForm
    template_name = "applications/runtimerole_form.html"
    success_url = reverse_lazy("runtimerole-list")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, f"Runtime role {self.object.name} saved.")
        return response


class RuntimeRoleCreateView(RuntimeRoleFormMixin, CreateView):
    pass


class RuntimeRoleUpdateView(RuntimeRoleFormMixin, UpdateView):
    pass


def _users(role: RuntimeRole):
    return role.instances.active().order_by("name")


class RuntimeRoleDeleteView(PolicyMixin, View):
    """GET: confirm. POST: delete, unless an active application instance uses the role."""

    policy = ADMIN_ONLY
    template_name = "applications/runtimerole_delete.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        role = get_object_or_404(RuntimeRole, pk=pk)
        return render(request, self.template_name, {"role": role, "users": list(_users(role))})

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        role = get_object_or_404(RuntimeRole, pk=pk)
        users = list(_users(role))
        if users:
            messages.error(
                request,
                f"Runtime role {role.name} is used by {', '.join(u.name for u in users)}; "
                "remove or replace those applications first.",
            )
            return redirect("runtimerole-list")
        with transaction.atomic():
            # Removed and failed instances keep no hold on the role (the link is PROTECT).
            role.instances.update(runtime_role=None)
            role.delete()
        messages.success(request, f"Runtime role {role.name} deleted.")
        return redirect("runtimerole-list")
