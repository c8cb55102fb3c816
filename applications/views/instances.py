"""Application instances: the list, the instance page, and what operators do with an instance.

*Replace* and *Clone* open the deploy wizard prefilled (applications/views/deploy.py); *Remove
from device* and *Pause*/*Resume* of camera nodes call the workflow (applications/deployments.py).
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import DetailView
from django_filters.views import FilterView
from django_tables2 import SingleTableMixin

from applications import deployments
from applications.filters import ApplicationInstanceFilter
from applications.live import instance_context
from applications.models import ApplicationInstance
from applications.observe import observe_context
from applications.tables import ApplicationInstanceTable
from core.access import PolicyMixin
from core.roles import OPERATE_ONLY, READ_OPERATE, Role, has_role
from core.status import NodeSignalValue


def can_operate(request: HttpRequest) -> bool:
    return has_role(request.user, Role.OPERATOR)


class ApplicationInstanceListView(PolicyMixin, SingleTableMixin, FilterView):
    policy = READ_OPERATE
    model = ApplicationInstance
    table_class = ApplicationInstanceTable
    filterset_class = ApplicationInstanceFilter
    template_name = "applications/applicationinstance_list.html"
    paginate_by = 50

    def get_queryset(self):
        return ApplicationInstance.objects.select_related("device")

    def get_context_data(self, **kwargs):
        return super().get_context_data(can_operate=can_operate(self.request), **kwargs)


class ApplicationInstanceDetailView(PolicyMixin, DetailView):
    policy = READ_OPERATE
    template_name = "applications/applicationinstance_detail.html"
    slug_field = slug_url_kwarg = "application_instance_id"
    context_object_name = "instance"

    def get_queryset(self):
        return ApplicationInstance.objects.select_related("device", "runtime_role", "replaces")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(instance_context(self.object))
        context["can_operate"] = can_operate(self.request)
        context["removable"] = self.object.is_removable
        context["replaced_by"] = list(self.object.replaced_by.order_by("-created"))
        context.update(observe_context(self.object, self.request))
        return context


class InstanceActionMixin(PolicyMixin):
    def get_instance(self, application_instance_id: str) -> ApplicationInstance:
        return get_object_or_404(
            ApplicationInstance.objects.select_related("device"),
            application_instance_id=application_instance_id,
        )


class InstanceRemoveView(InstanceActionMixin, View):
    """GET: the confirmation page. POST: remove the instance from its device."""

    policy = OPERATE_ONLY

    def get(self, request: HttpRequest, application_instance_id: str) -> HttpResponse:
        instance = self.get_instance(application_instance_id)
        return render(
            request,
            "applications/applicationinstance_remove.html",
            {"instance": instance, "removable": instance.is_removable},
        )

    def post(self, request: HttpRequest, application_instance_id: str) -> HttpResponse:
        instance = self.get_instance(application_instance_id)
        if not instance.is_removable:
            messages.info(request, f"{instance.name} is already removed or being removed.")
        else:
            deployments.remove(instance)
            messages.success(
                request,
                f"Removing {instance.name} from {instance.device.name}. Its status follows here.",
            )
        return redirect("application-detail", application_instance_id=application_instance_id)


class NodeSignalView(InstanceActionMixin, View):
    """POST ``signal`` = ``PAUSE:<NodeInstanceId>`` or ``RESUME:<NodeInstanceId>``."""

    policy = OPERATE_ONLY

    def post(self, request: HttpRequest, application_instance_id: str) -> HttpResponse:
        instance = self.get_instance(application_instance_id)
        signal, _, node_name = request.POST.get("signal", "").partition(":")
        node = instance.node_instances.filter(node_instance_id=node_name).first()
        if signal not in NodeSignalValue.values or node is None:
            messages.error(request, "Choose Pause or Resume for one of this application's nodes.")
        elif node.kind != "camera":
            messages.error(request, f"{node_name} is not a camera node; only cameras pause.")
        elif not instance.is_removable:
            messages.error(request, f"{instance.name} is removed; its nodes no longer run.")
        else:
            with transaction.atomic():
                deployments.signal_nodes(instance, [(node_name, signal)])
            verb = "Pausing" if signal == NodeSignalValue.PAUSE else "Resuming"
            messages.success(
                request, f"{verb} {node_name}. The device acts on it the next time it syncs."
            )
        return redirect("application-detail", application_instance_id=application_instance_id)


class PayloadDownloadView(InstanceActionMixin, View):
    """The manifest (graph.json) or override (override.json) as deployed, byte for byte."""

    policy = READ_OPERATE
    documents = {"graph.json": "manifest_payload", "override.json": "overrides_payload"}

    def get(self, request: HttpRequest, application_instance_id: str, filename: str):
        if filename not in self.documents:
            raise Http404("No such document.")
        instance = self.get_instance(application_instance_id)
        response = HttpResponse(
            getattr(instance, self.documents[filename]), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
