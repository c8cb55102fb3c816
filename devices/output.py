"""'View output': the appliance's HDMI output, relayed from its link to the pages that watch it.

The open page's ``<img>`` streams ``GET /devices/<id>/output.mjpeg`` (devices/views/output.py).
While it streams, the view asks the device's link connection (``link.output_watch`` to the
link group) to send ``output_watch`` to the agent, renewed every ``RENEW_S``; the agent then
sends ``output_frame`` messages, which the link consumer hands to the channel-layer group
``output-<device_id>`` (core/groups.py) that every open stream of that device listens on.
When the last page closes, the renewals stop and the agent stops encoding once ``WATCH_S`` has
passed.

Which application owns the display is known from the frames: the link consumer remembers it in
the cache and updates the "View output" panels live when it changes.
"""

from __future__ import annotations

import functools
from typing import Any

import cv2
import numpy as np
from django.core.cache import cache
from django.db.models import Model

from core import groups
from core.live import broadcast
from devices.models import Device

WATCH_S = 15.0  # how long one output_watch keeps the agent sending
RENEW_S = 5.0
OWNER_TEMPLATE = "devices/partials/output.html#output-owner"
NOBODY = ""  # the owner of an output_frame with no application behind it


def _owner_key(device_id: str) -> str:
    return f"vantage:output-owner:{device_id}"


@functools.lru_cache(maxsize=16)
def placeholder(text: str, width: int = 640, height: int = 360) -> bytes:
    """A dark JPEG with ``text`` centred: what the stream shows while there is no picture."""
    image = np.full((height, width, 3), 33, np.uint8)
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.7, 2
    lines = _wrap(text, width - 40, font, scale, thickness)
    line_h = 34
    top = (height - line_h * len(lines)) // 2 + 24
    for index, line in enumerate(lines):
        (text_w, _), _ = cv2.getTextSize(line, font, scale, thickness)
        origin = ((width - text_w) // 2, top + index * line_h)
        cv2.putText(image, line, origin, font, scale, (230, 230, 230), thickness, cv2.LINE_AA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return jpeg.tobytes()


def _wrap(text: str, width: int, font: int, scale: float, thickness: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(candidate, font, scale, thickness)[0][0] <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines or [""]


def current_owner(device_id: str) -> str | None:
    """The application instance id that last showed output on the device ("" for none), or
    None when nobody has watched it since the console started."""
    return cache.get(_owner_key(device_id))


def owner_context(device: Device, this_instance: Model | None = None) -> dict:
    """``this_instance``: the application instance whose page shows the panel, if any."""
    owner_id = current_owner(device.device_id)
    owner = None
    if owner_id:
        # The owner runs on this device: its reverse relation, not the applications app (above).
        owner = device.application_instances.filter(application_instance_id=owner_id).first()
    return {
        "device": device,
        "output_known": owner_id is not None,
        "output_owner": owner,
        "output_owner_id": owner_id or "",
        "this_instance": this_instance,
    }


def owner_changed(device_pk: int, owner_id: str) -> None:
    """The link saw frames of another owner (or of none): remember it and update the panels of
    the device page and of its applications' pages."""
    device = Device.objects.filter(pk=device_pk).first()
    if device is None:
        return
    cache.set(_owner_key(device.device_id), owner_id, timeout=None)
    broadcast(groups.device(device.device_id), OWNER_TEMPLATE, owner_context(device))
    for instance in device.application_instances.all():
        context: dict[str, Any] = owner_context(device, instance)
        broadcast(groups.app(instance.application_instance_id), OWNER_TEMPLATE, context)
