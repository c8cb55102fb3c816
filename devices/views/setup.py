"""The setup page of a device: *Download file*, *Power on* and *Done*."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import TemplateView

from core.access import PolicyMixin
from core.roles import ADMIN_ONLY
from devices import live, presenters
from devices.models import Device
from devices.provisioning import archive_filename, issue_archive


class DeviceSetupView(PolicyMixin, TemplateView):
    policy = ADMIN_ONLY
    template_name = "devices/device_setup.html"

    def get_context_data(self, **kwargs):
        device = get_object_or_404(Device, device_id=self.kwargs["device_id"])
        context = super().get_context_data(**kwargs)
        context.update(presenters.device_context(device, {"status"}))
        context["archive_name"] = archive_filename(device)
        context["local_usb_dir"] = settings.LOCAL_APPLIANCE_USB_DIR
        return context


class DeviceArchiveView(PolicyMixin, View):
    """POST: a new configuration archive, as a download. It is made now and kept nowhere."""

    policy = ADMIN_ONLY

    def post(self, request: HttpRequest, device_id: str) -> HttpResponse:
        device = get_object_or_404(Device, device_id=device_id)
        try:
            data, _credential = issue_archive(device)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("device-setup", device_id=device.device_id)
        # The setup page shows "downloaded" and the countdown once it reloads its steps.
        live.device_updated(device, ["status"])
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{archive_filename(device)}"'
        # The archive holds a one-time credential: no cache may keep it.
        response["Cache-Control"] = "no-store"
        return response
