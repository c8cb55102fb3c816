"""The setup wizard's first two steps, *Specify name* and *Configure* (Panorama's screens).

Finishing them creates the device (AWAITING_PROVISIONING) and leads to its setup page, which
carries the remaining steps: *Download file*, *Power on* and *Done* (devices/views/setup.py).
Those are tied to the device rather than to the wizard's session, so an administrator can leave
and come back to them, or another administrator can finish them.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from formtools.wizard.views import SessionWizardView

from core.access import PolicyMixin
from core.errors import QuotaExceeded
from core.roles import ADMIN_ONLY
from devicelink.network import DEFAULT_NTP_SERVERS
from devices.forms import INTERFACES, DeviceNameForm, DeviceNetworkForm
from devices.provisioning import create_device, step_list


class DeviceSetupWizard(PolicyMixin, SessionWizardView):
    policy = ADMIN_ONLY
    form_list = [("name", DeviceNameForm), ("configure", DeviceNetworkForm)]
    template_name = "devices/setup_wizard.html"

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form=form, **kwargs)
        context["setup_steps"] = step_list(self.steps.current)
        if self.steps.current == "configure":
            # Open the advanced settings when they hold something other than the defaults.
            defaults = (None, "", "DHCP", "\n".join(DEFAULT_NTP_SERVERS))
            context["advanced_open"] = bool(form.errors) or any(
                str(form[name].value() or "").strip().replace("\r", "") not in defaults
                for name in form.fields
            )
            context["interfaces"] = [
                (
                    prefix,
                    label,
                    form[f"{prefix}_connection"],
                    [form[f"{prefix}_{name}"] for name in _STATIC_FIELDS],
                )
                for prefix, label in INTERFACES
            ]
        return context

    def done(self, form_list, form_dict=None, **kwargs) -> HttpResponse:
        name_form = form_dict["name"]
        network = form_dict["configure"].cleaned_data["network"]
        try:
            device = create_device(
                name=name_form.cleaned_data["name"],
                description=name_form.cleaned_data["description"],
                tags=name_form.cleaned_data["tags"],
                network=network,
            )
        except (QuotaExceeded, ValidationError) as refused:
            # The quota filled up, or another administrator took the name, since step 1.
            exc = refused
            if isinstance(refused, QuotaExceeded):
                exc = ValidationError(refused.message, code="quota")
            form = self.get_form(step="name", data=self.storage.get_step_data("name"))
            form.is_valid()
            form.add_error(None, exc)
            return self.render_revalidation_failure("name", form)
        messages.success(
            self.request,
            f"Device {device.name} created. Download its configuration archive to continue.",
        )
        return redirect("device-setup", device_id=device.device_id)


_STATIC_FIELDS = ("ip_address", "mask", "gateway", "dns")
