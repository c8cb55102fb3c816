"""A device's page, and editing and deleting the device."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import DetailView, FormView, UpdateView

from core.access import PolicyMixin
from core.roles import ADMIN_ONLY, READ_ADMINISTER, Role, has_role
from devices import desired, hooks, live, presenters
from devices.deletion import delete_device
from devices.forms import DeleteDeviceForm, DeviceEditForm
from devices.models import Device
from devices.views.logs import logs_context


class DeviceDetailView(PolicyMixin, DetailView):
    policy = READ_ADMINISTER
    template_name = "devices/device_detail.html"
    slug_field = slug_url_kwarg = "device_id"
    context_object_name = "device_object"

    def get_queryset(self):
        return Device.objects.all()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The same context the live updates render the panels with (devices/live.py).
        context.update(presenters.device_context(self.object))
        context.update(logs_context(self.object, self.request))
        for more in hooks.device_page_context:  # applications: its metrics panel
            context.update(more(self.object, self.request))
        context["applications"] = list(self.object.application_instances.order_by("name"))
        context["can_operate"] = has_role(self.request.user, Role.OPERATOR)
        context["can_administer"] = has_role(self.request.user, Role.ADMINISTRATOR)
        return context


class DeviceEditView(PolicyMixin, UpdateView):
    policy = ADMIN_ONLY
    model = Device
    form_class = DeviceEditForm
    template_name = "devices/form.html"
    slug_field = slug_url_kwarg = "device_id"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            title=f"Edit {self.object.name}",
            intro="The name cannot change; it identifies the device for good.",
            cancel_url=self.object_url(),
            **kwargs,
        )

    def object_url(self) -> str:
        return reverse("device-detail", args=[self.object.device_id])

    def form_valid(self, form):
        self.object = form.save()
        if "allow_plain_link_secrets" in form.changed_data:
            # What the appliance was sent so far went without its secrets (or with them).
            desired.publish(self.object)
        live.device_updated(self.object, ["details"])
        messages.success(self.request, f"{self.object.name} saved.")
        return redirect(self.object_url())


class DeviceDeleteView(PolicyMixin, FormView):
    policy = ADMIN_ONLY
    form_class = DeleteDeviceForm
    template_name = "devices/device_delete.html"

    def dispatch(self, request, *args, **kwargs):
        self.device = None
        return super().dispatch(request, *args, **kwargs)

    def get_device(self) -> Device:
        if self.device is None:
            self.device = get_object_or_404(Device, device_id=self.kwargs["device_id"])
        return self.device

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "device": self.get_device()}

    def get_context_data(self, **kwargs):
        device = self.get_device()
        return super().get_context_data(
            device=device,
            applications=[app.name for app in device.application_instances.all()],
            **kwargs,
        )

    def form_valid(self, form):
        device = self.get_device()
        name = device.name
        delete_device(device, self.request.user)
        messages.success(
            self.request,
            f"Device {name} deleted. The appliance keeps its data; to register it again, reset "
            "it with 'python -m edge_agent reset --full' and set it up as a new device.",
        )
        return redirect("device-list")
