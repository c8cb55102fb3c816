"""The device list, with filters, and its bulk actions (reboot, install update, add tag)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django_filters.views import FilterView
from django_tables2 import SingleTableMixin

from core.access import PolicyMixin
from core.roles import OPERATE_ONLY, READ_ADMINISTER, Role, has_role
from core.tags import validate_tags
from devices import live
from devices.filters import DeviceFilter
from devices.forms import BulkActionForm
from devices.jobs import JobRefused, create_jobs, job_problems
from devices.models import Device, SoftwareImage
from devices.tables import DeviceTable


class DeviceListView(PolicyMixin, SingleTableMixin, FilterView):
    policy = READ_ADMINISTER
    model = Device
    table_class = DeviceTable
    filterset_class = DeviceFilter
    template_name = "devices/device_list.html"

    def get_queryset(self):
        return Device.objects.with_aggregated_status().annotate(
            application_count=Count("application_instances")
        )

    def get_table_kwargs(self) -> dict:
        return {
            "latest": SoftwareImage.objects.newest(),
            "selectable": has_role(self.request.user, Role.OPERATOR),
        }

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            can_operate=has_role(self.request.user, Role.OPERATOR),
            images=SoftwareImage.objects.order_by("-major", "-minor", "-patch"),
            **kwargs,
        )


ACTION_TEXT = {
    "reboot": ("Reboot devices", "Reboot", "These devices restart; their applications stop "
               "while they boot."),
    "update": ("Install software update", "Install update", "These devices download, verify "
               "and install the update, then restart."),
    "tag": ("Add tag", "Add tag", "The tag is added to these devices (a tag with the same key is "
            "replaced)."),
}  # fmt: skip


class BulkActionView(PolicyMixin, View):
    """GET: what would happen, to which devices, and what stands in the way. POST: do it."""

    policy = OPERATE_ONLY

    def _back_url(self, data) -> str:
        target = data.get("next", "")
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={self.request.get_host()}
        ):
            return target
        return reverse("device-list")

    def _form(self, data) -> BulkActionForm:
        form = BulkActionForm(data)
        if data.get("action") == "tag" and not has_role(self.request.user, Role.ADMINISTRATOR):
            # Tags are part of a device's description, which administrators edit.
            raise PermissionDenied("Adding tags needs the Administrator role.")
        return form

    def _problems(self, form: BulkActionForm, devices: list[Device]) -> list[str]:
        data = form.cleaned_data
        if data["action"] == "tag":
            problems = []
            for device in devices:
                try:
                    validate_tags({**device.tags, **data["tags"]})
                except ValidationError as exc:  # too many tags
                    problems.append(f"{device.name}: {' '.join(exc.messages)}")
            return problems
        return job_problems(
            devices,
            form.job_type,
            image_version=data.get("image_version") or None,
            allow_major_version_update=data.get("allow_major_version_update", False),
        )

    def _render(self, form: BulkActionForm, problems: list[str] | None = None) -> HttpResponse:
        data = form.data
        action = data.get("action") if data.get("action") in ACTION_TEXT else "reboot"
        title, confirm_label, explanation = ACTION_TEXT[action]
        context = {
            "title": title,
            "confirm_label": confirm_label,
            "back_url": self._back_url(data),
            "form_errors": [e for errors in form.errors.values() for e in errors],
            "devices": [],
            "problems": problems or [],
            "can_confirm": False,
        }
        if form.is_valid():
            devices = list(
                Device.objects.with_aggregated_status().filter(
                    pk__in=[device.pk for device in form.cleaned_data["device"]]
                )
            )
            if problems is None:
                context["problems"] = self._problems(form, devices)
            cleaned = form.cleaned_data
            what = {
                "reboot": "reboot",
                "update": f"install version {cleaned.get('image_version')}",
                "tag": f"get the tag {cleaned.get('tag_key')}"
                + (f": {cleaned.get('tag_value')}" if cleaned.get("tag_value") else ""),
            }[cleaned["action"]]
            context.update(
                devices=devices,
                summary=f"{len(devices)} device{'s' if len(devices) != 1 else ''} will {what}. "
                f"{explanation}",
                can_confirm=not context["problems"],
                hidden=[("action", cleaned["action"])]
                + [("device", device.device_id) for device in devices]
                + [
                    (name, data.get(name))
                    for name in ("image_version", "tag_key", "tag_value", "next")
                    if data.get(name)
                ]
                + (
                    [("allow_major_version_update", "on")]
                    if cleaned.get("allow_major_version_update")
                    else []
                ),
            )
        return render(self.request, "devices/bulk_confirm.html", context)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(self._form(request.GET))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = self._form(request.POST)
        if not form.is_valid():
            return self._render(form)
        devices = list(form.cleaned_data["device"])
        if form.cleaned_data["action"] == "tag":
            problems = self._problems(form, devices)
            if problems:
                return self._render(form, problems)
            with transaction.atomic():
                for device in devices:
                    device.tags = {**device.tags, **form.cleaned_data["tags"]}
                    device.save(update_fields=["tags", "updated"])
                    live.device_updated(device, ["details"])
            messages.success(request, f"Tag added to {len(devices)} device(s).")
            return redirect(self._back_url(request.POST))
        try:
            jobs = create_jobs(
                devices,
                form.job_type,
                image_version=form.cleaned_data.get("image_version") or None,
                allow_major_version_update=form.cleaned_data.get(
                    "allow_major_version_update", False
                ),
                user=request.user,
            )
        except JobRefused as exc:
            return self._render(form, exc.messages)
        names = ", ".join(job.device.name for job in jobs)
        kind = "Reboot" if form.job_type == "REBOOT" else "Update"
        messages.success(
            request,
            f"{kind} requested for {names}: job{'s' if len(jobs) > 1 else ''} "
            f"{', '.join(job.job_id for job in jobs)}. The job list shows its progress.",
        )
        return redirect(self._back_url(request.POST))
