"""Device logs: the filtered tail on the device page, the text download, offline log images."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import FormView

from core.access import PolicyMixin
from core.roles import ADMIN_ONLY, READ_ADMINISTER
from devices.forms import LEVEL_CHOICES, LogFilterForm, LogImageForm
from devices.logimport import import_log_image
from devices.models import Device, DeviceLog
from devices.presenters import LOG_LINES_SHOWN


def log_filter(request: HttpRequest) -> tuple[str, str]:
    """The minimum level and the source asked for in the query string (invalid ones ignored)."""
    form = LogFilterForm(request.GET)
    if not form.is_valid():
        return "", ""
    return form.cleaned_data["level"], form.cleaned_data["source"]


def application_filter(request: HttpRequest, device: Device) -> str:
    """An application instance id of the device, "-" for the device's own lines, or ""."""
    value = request.GET.get("application", "")
    if value == "-" or device.application_instances.filter(application_instance_id=value).exists():
        return value
    return ""


def filtered_logs(
    device: Device, level: str, source: str, application: str = ""
) -> QuerySet[DeviceLog]:
    logs = DeviceLog.objects.filter(device=device)
    if application:
        logs = logs.filter(application_instance_id="" if application == "-" else application)
    if level:
        logs = logs.filter(level__in=DeviceLog.LEVELS[DeviceLog.LEVELS.index(level) :])
    if source:
        logs = logs.filter(source=source)
    return logs


def logs_context(device: Device, request: HttpRequest) -> dict:
    level, source = log_filter(request)
    application = application_filter(request, device)
    newest = list(
        filtered_logs(device, level, source, application).order_by("-time", "-id")[
            : LOG_LINES_SHOWN + 1
        ]
    )
    chosen = (("level", level), ("source", source), ("application", application))
    query = urlencode({key: value for key, value in chosen if value})
    device_url = reverse("device-detail", args=[device.device_id])
    sources = list(
        DeviceLog.objects.filter(device=device)
        .order_by("source")
        .values_list("source", flat=True)
        .distinct()
    )
    return {
        "lines": list(reversed(newest[:LOG_LINES_SHOWN])),
        "lines_capped": len(newest) > LOG_LINES_SHOWN,
        "level": level,
        "source": source,
        "level_choices": LEVEL_CHOICES,
        "log_sources": sources,
        "log_application": application,
        "log_applications": list(
            device.application_instances.order_by("name").values_list(
                "application_instance_id", "name"
            )
        ),
        "device_url": device_url,
        "logs_url": f"{device_url}?{query}" if query else device_url,
        "logs_download_url": reverse("device-logs-download", args=[device.device_id])
        + (f"?{query}" if query else ""),
    }


class DeviceLogsDownloadView(PolicyMixin, View):
    """``/devices/<id>/logs.txt?level=&source=``: every matching line, oldest first."""

    policy = READ_ADMINISTER

    def get(self, request: HttpRequest, device_id: str) -> StreamingHttpResponse:
        device = get_object_or_404(Device, device_id=device_id)
        level, source = log_filter(request)
        application = application_filter(request, device)
        logs = filtered_logs(device, level, source, application).order_by("time", "id")

        def lines() -> Iterator[str]:
            for log in logs.iterator(chunk_size=2000):
                where = "" if log.source == "link" else f" [{log.source}]"
                if log.application_instance_id:
                    where += f" {log.application_instance_id}/{log.node or '-'}"
                yield (
                    f"{log.time:%Y-%m-%d %H:%M:%S.%f}"[:-3]
                    + f" {log.level} {log.stream}{where}: {log.message}\n"
                )

        response = StreamingHttpResponse(lines(), content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{device.name}-logs.txt"'
        return response


class LogImportView(PolicyMixin, FormView):
    """Upload an offline log image the appliance wrote to its USB drive."""

    policy = ADMIN_ONLY
    form_class = LogImageForm
    template_name = "devices/form.html"

    def get_device(self) -> Device:
        return get_object_or_404(Device, device_id=self.kwargs["device_id"])

    def get_context_data(self, **kwargs):
        device = self.get_device()
        return super().get_context_data(
            title=f"Upload an offline log image of {device.name}",
            intro="When an appliance cannot reach the console, it writes its logs to its USB "
            "drive (in panorama/managed_logs/), encrypted so that only this console can read "
            "them. Upload that file here; its lines join the device's logs, with the file name "
            "as their source.",
            submit_label="Upload",
            cancel_url=reverse("device-detail", args=[device.device_id]),
            **kwargs,
        )

    def form_valid(self, form):
        device = self.get_device()
        upload = form.cleaned_data["image"]
        try:
            count = import_log_image(device, upload)
        except ValidationError as exc:
            form.add_error("image", exc)
            return self.form_invalid(form)
        if count:
            messages.success(self.request, f"Imported {count} log lines from {upload.name}.")
        else:
            messages.info(
                self.request, f"{upload.name} holds no lines that were not imported already."
            )
        return redirect(reverse("device-detail", args=[device.device_id]) + "#logs")
