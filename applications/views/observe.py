"""The text download of an application instance's logs (its page's panels: observe.py)."""

from __future__ import annotations

from django.http import HttpRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views import View

from applications.models import ApplicationInstance
from applications.observe import app_log_filter, app_logs, download_lines
from core.access import PolicyMixin
from core.roles import READ_OPERATE


class AppLogsDownloadView(PolicyMixin, View):
    """``/applications/<id>/logs.txt?stream=&node=&level=``: every matching line, oldest first."""

    policy = READ_OPERATE

    def get(self, request: HttpRequest, application_instance_id: str) -> StreamingHttpResponse:
        instance = get_object_or_404(
            ApplicationInstance, application_instance_id=application_instance_id
        )
        chosen = app_log_filter(request)
        logs = app_logs(instance, chosen["stream"], chosen["node"], chosen["level"])
        response = StreamingHttpResponse(
            download_lines(logs), content_type="text/plain; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{instance.name}-logs.txt"'
        return response
