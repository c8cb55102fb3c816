"""Helpers of the tests that drive the agent's own pieces (Provisioner, LinkClient, the whole
process) against the live console: devices and archives as the wizard makes them, what the
console stored, and event loops in threads of their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings

from devices.models import Device, DeviceLog
from devices.provisioning import issue_archive
from tests.support.appliances import refreshed

__all__ = ["NETWORK", "console_logs", "issue", "log_entries", "refreshed", "reissue", "run_async"]

NETWORK = {
    "Ethernet0": {"ConnectionType": "DHCP"},
    "Ethernet1": {
        "ConnectionType": "STATIC_IP",
        "StaticIpConnectionInfo": {
            "IpAddress": "192.168.1.20",
            "Mask": "255.255.255.0",
            "DefaultGateway": "192.168.1.1",
            "Dns": ["192.168.1.1"],
        },
    },
    "Ntp": {"NtpServers": ["time.example.com"]},
}


# --- the console's side: devices, archives, state ---------------------------------------------


def issue(name: str, console_url: str, *, network: dict | None = None, ca_file: str = ""):
    """What the setup wizard does: create the device and hand out its archive."""
    device = Device.objects.create(name=name, network_config=network or {})
    return device, *reissue(device, console_url, ca_file=ca_file)


def reissue(device, console_url: str, *, ca_file: str = ""):
    """A new archive for ``device``, naming ``console_url`` (and carrying ``ca_file``)."""
    original = settings.CONSOLE_URL, settings.CONSOLE_CA_FILE
    settings.CONSOLE_URL, settings.CONSOLE_CA_FILE = console_url, ca_file
    try:
        return issue_archive(device)
    finally:
        settings.CONSOLE_URL, settings.CONSOLE_CA_FILE = original


def console_logs(device, **filters) -> list[str]:
    """The messages the console stored for ``device``, oldest first."""
    rows = DeviceLog.objects.filter(device=device, **filters).order_by("id")
    return list(rows.values_list("message", flat=True))


def log_entries(*messages: str) -> dict:
    return {"entries": [{"time": time.time(), "stream": "syslog", "message": m} for m in messages]}


def run_async(coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
    """``asyncio.run`` in a thread of its own, with a timeout.

    Not in the test's thread: once a test of the session has driven the browser, Playwright's
    event loop runs there, and asyncio.run() refuses to start inside a running loop.
    """
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coroutine, timeout)).result()
