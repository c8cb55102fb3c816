"""The appliance's download of application assets: ``GET /agent/v1/assets/<sha256>``.

Beside the other appliance-facing endpoints in URL (console/urls.py mounts both under
``/agent/v1/``), but here: which assets a device may read is a question about its application
instances, which live above devices.
"""

from __future__ import annotations

import json
import re

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_GET

from applications.assets import open_asset
from applications.models import ApplicationInstance, Asset
from devicelink.auth import AuthError
from devices.agent_api import error_response
from devices.agent_auth import authenticate_device

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@require_GET
def asset(request: HttpRequest, sha256: str) -> HttpResponse:
    """An application asset for a device that runs an instance using it; ``Range`` resumes."""
    try:
        device = authenticate_device(request.headers.get("Authorization"), "GET", request.path)
    except AuthError as exc:
        return error_response(exc.status, exc.message)
    stored = Asset.objects.filter(sha256=sha256).first()
    used_here = stored is not None and any(
        sha256 in json.dumps(instance.spec)
        for instance in ApplicationInstance.objects.filter(device=device).only("spec")
    )
    if not used_here:
        return error_response(404, f"No asset {sha256} belongs to an application of this device.")
    handle = open_asset(stored)
    start, end = 0, stored.size - 1
    match = _RANGE.match(request.headers.get("Range", ""))
    if match:
        start = int(match[1])
        end = min(int(match[2]) if match[2] else end, stored.size - 1)
        if start > end:
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{stored.size}"
            return response
        handle.seek(start)
    length = end - start + 1
    response = StreamingHttpResponse(
        _chunks(handle, length), status=206 if match else 200, content_type="application/gzip"
    )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["X-Vantage-Sha256"] = stored.sha256
    if match:
        response["Content-Range"] = f"bytes {start}-{end}/{stored.size}"
    return response


def _chunks(handle, remaining: int, size: int = 1024 * 1024):
    try:
        while remaining > 0:
            data = handle.read(min(size, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data
    finally:
        handle.close()
