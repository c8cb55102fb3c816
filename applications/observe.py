"""Logs and metrics of an application instance, as its page shows them.

Log lines are ``DeviceLog`` rows that name the instance (the agent's application streams:
``code``, ``console_output``, ``stream``, ``model``, ``display``); the page filters them by
stream, node and minimum level, tails them live (``app_logs_added``, called by
devices/live.py for every stored batch) and offers them as a text download. Lines count only
for the device the instance is deployed to, so an appliance cannot write into another
device's application.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse

from applications.metrics import WINDOWS, charts, window_of
from applications.models import ApplicationInstance
from core import groups
from core.groups import GROUP_PATTERN
from core.live import broadcast
from devices.models import DeviceLog

APP_STREAMS = ("code", "console_output", "stream", "model", "display")
STREAM_LABELS = {
    "code": "code (files the application writes)",
    "console_output": "console output",
    "stream": "camera streams",
    "model": "models",
    "display": "display",
}
LINES_SHOWN = 200
LEVEL_CHOICES = [("", "All levels")] + [(level, f"{level} and above") for level in DeviceLog.LEVELS]


class AppLogFilterForm(forms.Form):
    stream = forms.ChoiceField(
        choices=[("", "All streams"), *STREAM_LABELS.items()], required=False
    )
    node = forms.CharField(max_length=128, required=False)
    level = forms.ChoiceField(choices=LEVEL_CHOICES, required=False)
    window = forms.ChoiceField(choices=[(key, key) for key in WINDOWS], required=False)


def app_log_filter(request: HttpRequest) -> dict[str, str]:
    """stream, node, level and the metrics window asked for (invalid ones ignored)."""
    form = AppLogFilterForm(request.GET)
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    return {key: data.get(key) or "" for key in ("stream", "node", "level", "window")}


def app_logs(instance: ApplicationInstance, stream: str, node: str, level: str) -> QuerySet:
    logs = DeviceLog.objects.filter(
        application_instance_id=instance.application_instance_id, device_id=instance.device_id
    )
    if stream:
        logs = logs.filter(stream=stream)
    if node:
        logs = logs.filter(node=node)
    if level in DeviceLog.LEVELS:
        logs = logs.filter(level__in=DeviceLog.LEVELS[DeviceLog.LEVELS.index(level) :])
    return logs


def _query(**values: str) -> str:
    query = urlencode({key: value for key, value in values.items() if value})
    return f"?{query}" if query else ""


def observe_context(instance: ApplicationInstance, request: HttpRequest) -> dict:
    """The Logs and Metrics panels of the instance page."""
    chosen = app_log_filter(request)
    stream, node, level = chosen["stream"], chosen["node"], chosen["level"]
    window = window_of(chosen["window"])
    newest = list(
        app_logs(instance, stream, node, level).order_by("-time", "-id")[: LINES_SHOWN + 1]
    )
    page = reverse("application-detail", args=[instance.application_instance_id])
    filters = {"stream": stream, "node": node, "level": level}
    nodes = list(instance.node_instances.values_list("node_instance_id", flat=True))
    if node and node not in nodes:
        nodes.append(node)
    return {
        "app_lines": list(reversed(newest[:LINES_SHOWN])),
        "app_lines_capped": len(newest) > LINES_SHOWN,
        "log_stream": stream,
        "log_node": node,
        "log_level": level,
        "stream_choices": list(STREAM_LABELS.items()),
        "node_choices": nodes,
        "level_choices": LEVEL_CHOICES,
        "page_url": page,
        "app_logs_url": page + _query(**filters, window=chosen["window"]),
        "app_logs_download_url": reverse(
            "application-logs-download", args=[instance.application_instance_id]
        )
        + _query(**filters),
        "metrics_url": page + _query(**filters, window=window),
        "window_links": [
            {"key": key, "url": page + _query(**filters, window=key), "active": key == window}
            for key in WINDOWS
        ],
        "metrics_scope": "app",
        "metrics_target": "#app-metrics",
        **charts([instance], window),
    }


def device_metrics_context(device: Any, request: HttpRequest) -> dict:
    """The device page's Metrics panel: every instance on the device, one series per node."""
    window = window_of(request.GET.get("window"))
    page = reverse("device-detail", args=[device.device_id])
    keep = {key: request.GET.get(key, "") for key in ("level", "source", "application")}
    instances = list(device.application_instances.all())
    return {
        "metrics_scope": "device",
        "metrics_target": "#device-metrics",
        "metrics_url": page + _query(**keep, window=window),
        "window_links": [
            {"key": key, "url": page + _query(**keep, window=key), "active": key == window}
            for key in WINDOWS
        ],
        **charts(instances, window, with_instance=True),
    }


def download_lines(logs: QuerySet) -> Iterator[str]:
    for log in logs.order_by("time", "id").iterator(chunk_size=2000):
        yield (
            f"{log.time:%Y-%m-%d %H:%M:%S.%f}"[:-3]
            + f" {log.level} {log.stream} {log.node or '-'}: {log.message}\n"
        )


def app_logs_added(lines: list[DeviceLog]) -> None:
    """New lines were stored (oldest first): append those of applications to their tails."""
    by_instance: dict[str, list[DeviceLog]] = {}
    for line in lines:
        if line.application_instance_id:
            by_instance.setdefault(line.application_instance_id, []).append(line)
    if not by_instance:
        return
    device_id = lines[0].device_id
    known = ApplicationInstance.objects.filter(
        device_id=device_id, application_instance_id__in=list(by_instance)
    ).values_list("application_instance_id", flat=True)
    for iid in known:
        group = groups.app(iid)
        if GROUP_PATTERN.match(group):
            broadcast(
                group,
                "applications/partials/logs.html#app-log-append",
                {"app_lines": by_instance[iid][-LINES_SHOWN:]},
            )
