"""Dashboard, settings, users, API tokens, audit log and health."""

from __future__ import annotations

from auditlog.models import LogEntry
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import PasswordChangeView
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views import View
from django.views.generic import CreateView, TemplateView, UpdateView
from django_tables2 import SingleTableView

from console.accounts import lockout_problem
from console.dashboard import dashboard_counts
from console.forms import APITokenCreateForm, UserCreateForm, UserUpdateForm
from console.health import run_checks
from console.tables import APITokenTable, AuditTable, UserTable
from console.version import VERSION
from core.access import PolicyMixin
from core.models import APIToken, Installation, User
from core.roles import ADMIN_ONLY, ANY_USER, READ_ADMINISTER


class DashboardView(PolicyMixin, TemplateView):
    policy = ANY_USER
    template_name = "console/dashboard.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(counts=dashboard_counts(), **kwargs)


class SettingsView(PolicyMixin, TemplateView):
    """What this installation is and how it is configured (no secrets)."""

    policy = READ_ADMINISTER
    template_name = "console/settings.html"

    def get_context_data(self, **kwargs):
        store = settings.ASSET_STORE
        return super().get_context_data(
            version=VERSION,
            account_id=Installation.get().account_id,
            console_url=settings.CONSOLE_URL,
            database=settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
            channel_layer=type(get_channel_layer()).__name__,
            broker="Redis" if settings.REDIS_URL else "file system (embedded)",
            asset_store=f"s3://{store.bucket}/{store.location}"
            if store.kind == "s3"
            else store.location,
            **kwargs,
        )


class UserListView(PolicyMixin, SingleTableView):
    policy = ADMIN_ONLY
    model = User
    table_class = UserTable
    template_name = "console/user_list.html"


class UserCreateView(PolicyMixin, CreateView):
    policy = ADMIN_ONLY
    model = User
    form_class = UserCreateForm
    template_name = "console/form.html"
    success_url = reverse_lazy("user-list")
    extra_context = {"title": "Add user", "cancel_url": reverse_lazy("user-list")}

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(
            self.request, f"User {self.object.username} added as {self.object.get_role_display()}."
        )
        return response


class UserUpdateView(PolicyMixin, UpdateView):
    policy = ADMIN_ONLY
    model = User
    form_class = UserUpdateForm
    template_name = "console/form.html"
    success_url = reverse_lazy("user-list")
    extra_context = {"cancel_url": reverse_lazy("user-list")}

    def get_context_data(self, **kwargs):
        return super().get_context_data(title=f"Edit user {self.object.username}", **kwargs)

    @transaction.atomic
    def form_valid(self, form):
        current = User.objects.get(pk=self.object.pk)
        problem = lockout_problem(
            self.request.user,
            current,
            role=form.cleaned_data["role"],
            is_active=form.cleaned_data["is_active"],
        )
        if problem:
            form.add_error(None, problem)
            return self.form_invalid(form)
        messages.success(self.request, f"User {self.object.username} saved.")
        return super().form_valid(form)


class APITokenListView(PolicyMixin, SingleTableView):
    policy = ADMIN_ONLY
    model = APIToken
    table_class = APITokenTable
    template_name = "console/token_list.html"

    def get_queryset(self):
        return APIToken.objects.select_related("user")


class APITokenCreateView(PolicyMixin, View):
    policy = ADMIN_ONLY

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "console/token_form.html", {"form": APITokenCreateForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = APITokenCreateForm(request.POST)
        if not form.is_valid():
            return render(request, "console/token_form.html", {"form": form}, status=400)
        token, text = APIToken.issue(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            read_only=form.cleaned_data["read_only"],
            expires=form.expiry(),
            created_by=request.user,
        )
        # The full token is shown in this one response and never again.
        response = render(
            request, "console/token_created.html", {"token": token, "token_text": text}
        )
        response["Cache-Control"] = "no-store"
        return response


class APITokenRevokeView(PolicyMixin, View):
    policy = ADMIN_ONLY

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        token = get_object_or_404(APIToken, pk=pk)
        token.delete()
        messages.success(request, f"Token {token.name} revoked.")
        return redirect("token-list")


class AuditLogView(PolicyMixin, SingleTableView):
    policy = ADMIN_ONLY
    model = LogEntry
    table_class = AuditTable
    template_name = "console/audit_list.html"
    paginate_by = 50

    def get_queryset(self):
        entries = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp")
        if actor := self.request.GET.get("actor"):
            entries = entries.filter(actor__username=actor)
        if kind := self.request.GET.get("kind"):
            entries = entries.filter(content_type__model=kind)
        return entries


class OwnPasswordChangeView(PolicyMixin, PasswordChangeView):
    policy = ANY_USER
    template_name = "console/form.html"
    success_url = reverse_lazy("dashboard")
    extra_context = {"title": "Change your password", "cancel_url": reverse_lazy("dashboard")}

    def form_valid(self, form):
        messages.success(self.request, "Your password was changed.")
        return super().form_valid(form)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness for load balancers and the run command. No secrets, no login."""
    healthy, results = run_checks()
    return JsonResponse(
        {"status": "ok" if healthy else "unhealthy", "version": VERSION, "checks": results},
        status=200 if healthy else 503,
    )
