from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import CreateView, DeleteView, UpdateView
from django_tables2 import SingleTableView

from core.access import PolicyMixin
from core.roles import OPERATE_ONLY, READ_OPERATE
from datasources import hooks
from datasources.checks import (
    CheckRefused,
    check_place,
    online_appliances,
    start_check,
    with_latest_check,
)
from datasources.forms import DataSourceForm
from datasources.models import DataSource, StreamCheck
from datasources.tables import DataSourceTable

hide_password = method_decorator(sensitive_post_parameters("password", "url"), name="dispatch")


class DataSourceListView(PolicyMixin, SingleTableView):
    policy = READ_OPERATE
    model = DataSource
    table_class = DataSourceTable
    template_name = "datasources/datasource_list.html"

    def get_queryset(self):
        return hooks.with_users(with_latest_check(DataSource.objects.all()))

    def get_context_data(self, **kwargs):
        # Where "Test stream" can run: this console, or an appliance online now.
        places = list(online_appliances().values_list("device_id", "name"))
        return super().get_context_data(check_places=places, **kwargs)


class DataSourceCheckView(PolicyMixin, View):
    """Test stream: from the console host (the worker) or from an online appliance (field
    ``device_id``); the list row updates live."""

    policy = READ_OPERATE

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        source = get_object_or_404(DataSource, pk=pk)
        try:
            check = start_check(source, request.user, check_place(request.POST.get("device_id")))
        except CheckRefused as refused:
            messages.error(request, str(refused))
            if request.htmx:
                # The button's form swaps nothing: reload the list, which shows the message.
                return HttpResponse(status=204, headers={"HX-Redirect": reverse("datasource-list")})
            return redirect("datasource-list")
        if request.htmx:
            # The row changes through the live link, in order: pending, then the result.
            return HttpResponse(status=204)
        messages.info(
            request, f"Checking {source.name} from {check.place}… the result appears in its row."
        )
        return redirect("datasource-list")


class StreamCheckSnapshotView(PolicyMixin, View):
    policy = READ_OPERATE

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        check = get_object_or_404(StreamCheck.objects.only("snapshot"), pk=pk)
        if not check.snapshot:
            raise Http404("This check has no snapshot.")
        response = HttpResponse(bytes(check.snapshot), content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=3600"
        return response


@hide_password
class DataSourceCreateView(PolicyMixin, CreateView):
    policy = OPERATE_ONLY
    model = DataSource
    form_class = DataSourceForm
    template_name = "console/form.html"
    success_url = reverse_lazy("datasource-list")
    extra_context = {"title": "Add camera stream", "cancel_url": reverse_lazy("datasource-list")}

    @transaction.atomic
    def form_valid(self, form):
        response = super().form_valid(form)
        hooks.saved(self.object, self.request.user)
        saved = " Credentials saved as secret." if self.object.has_credentials else ""
        messages.success(self.request, f"Camera stream {self.object.name} added.{saved}")
        return response


@hide_password
class DataSourceUpdateView(PolicyMixin, UpdateView):
    policy = OPERATE_ONLY
    model = DataSource
    form_class = DataSourceForm
    template_name = "console/form.html"
    success_url = reverse_lazy("datasource-list")
    extra_context = {"cancel_url": reverse_lazy("datasource-list")}

    def get_context_data(self, **kwargs):
        return super().get_context_data(title=f"Edit camera stream {self.object.name}", **kwargs)

    @transaction.atomic
    def form_valid(self, form):
        response = super().form_valid(form)
        hooks.saved(self.object, self.request.user)
        messages.success(self.request, f"Camera stream {self.object.name} saved.")
        return response


class DataSourceDeleteView(PolicyMixin, DeleteView):
    policy = OPERATE_ONLY
    model = DataSource
    template_name = "datasources/datasource_confirm_delete.html"
    success_url = reverse_lazy("datasource-list")

    def get_context_data(self, **kwargs):
        return super().get_context_data(used_by=hooks.users(self.object), **kwargs)

    @transaction.atomic
    def form_valid(self, form):
        name = self.object.name
        hooks.deleted(self.object)
        response = super().form_valid(form)
        messages.success(self.request, f"Camera stream {name} and its saved credentials deleted.")
        return response
