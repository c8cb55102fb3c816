"""Every channel-layer group name, in one place, each kind with its own prefix.

Browser pages subscribe to the live-status groups over ``/ws/live/`` (console/consumers.py),
which accepts a name only if ``GROUP_PATTERN`` matches it (``fleet``, ``device-<id>`` and
``app-<id>``) and it names the fleet or a device or application instance that exists; any other
name closes the socket with 4400 and the name in the close reason. The other groups carry what
no browser may read directly (a device link's control messages, an appliance's raw HDMI
frames), so their prefixes (``link-``, ``output-``) never start like a browser group: a name
cannot be both.
"""

from __future__ import annotations

import re

FLEET = "fleet"

# What a browser may subscribe to (and what broadcast() may send rendered fragments to).
GROUP_PATTERN = re.compile(r"^(fleet|device-[A-Za-z0-9_-]{1,80}|app-[A-Za-z0-9_-]{1,80})$")
# Groups of device link connections, where other processes send link.* messages.
LINK_GROUP_PATTERN = re.compile(r"^link-device-[a-z2-7]{26}$")


def device(device_id: str) -> str:
    """The device page's live regions (and the device's rows elsewhere)."""
    return f"device-{device_id}"


def app(application_instance_id: str) -> str:
    """The application instance page's live regions."""
    return f"app-{application_instance_id}"


def link(device_id: str) -> str:
    """The device's link connection (devices/link.py); messages go through send_to_link()."""
    return f"link-{device_id}"


def output(device_id: str) -> str:
    """The appliance's HDMI frames, relayed to the device's open MJPEG streams
    (devices/output.py). Not ``device-output-…``: that would be a browser group name."""
    return f"output-{device_id}"
