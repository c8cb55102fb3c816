"""Helpers of the tests that drive the agent's own pieces (Provisioner, LinkClient, the whole
process) against the live console: devices and archives as the wizard makes them, what the
console stored, and event loops in threads of their own."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings

from devicelink.messages import Health
from devices.models import DeviceLog
from devices.provisioning import issue_archive
from edge_agent.link import LinkClient, LinkConfig, LinkHooks
from edge_agent.outbox import Outbox
from tests.support.appliances import refreshed
from tests.support.devices import make_device

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
    device = make_device(name=name, network_config=network or {})
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


# --- LinkClients in event loops of their own threads -------------------------------------------


class LinkLoop:
    """LinkClients running in an event loop of their own thread, under ``asyncio.run``."""

    def __init__(self, make_clients: Callable[[], list[LinkClient]], timeout: float) -> None:
        self._make = make_clients
        self._timeout = timeout
        self._started = threading.Event()
        self._error: BaseException | None = None
        self.clients: list[LinkClient] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        assert self._started.wait(10), "the link loop did not start"
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # handed to the test's thread by join()
            self._error = exc
            self._started.set()

    async def _run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.clients = self._make()
        self._started.set()
        runs = asyncio.gather(*(client.run() for client in self.clients))
        await asyncio.wait_for(runs, self._timeout)

    @property
    def client(self) -> LinkClient:
        return self.clients[0]

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)`` in the loop's thread (awaited if it is a coroutine); its result."""

        async def inside():
            result = func(*args)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(inside(), self.loop).result(30)

    def finished(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float = 15) -> None:
        """Wait for every client's ``run()`` to return; re-raise what went wrong in there."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the link clients did not stop"
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(self._stop_all)
        self.join()

    def _stop_all(self) -> None:
        for client in self.clients:
            client.stop()


def link_client(console_url: str, device, key, outbox: Outbox, **extra: Any) -> LinkClient:
    """A client with test timings; ``extra`` sets fields of its LinkConfig or LinkHooks."""
    options = {
        "console_url": console_url,
        "device_id": device.device_id,
        "private_key": key,
        "software_version": "1.2.3",
        "health": lambda: Health(cpu_percent=5.0),
        "heartbeat_s": 0.1,
        "backoff_base_s": 0.02,
        "backoff_cap_s": 0.1,
        "serial_number": "123456789012",
        **extra,
    }
    hooks = {f.name for f in dataclasses.fields(LinkHooks)}
    config = LinkConfig(**{k: v for k, v in options.items() if k not in hooks})
    return LinkClient(config, outbox, LinkHooks(**{k: v for k, v in options.items() if k in hooks}))


def errors_of(errors: list[str]) -> Callable[[LinkClient], None]:
    """An ``on_change`` that keeps every ``last_error`` the client had, in ``errors``."""
    return lambda link: errors.append(link.last_error)


class Links:
    """Starts LinkClients for a test and stops whatever is still running at its end."""

    def __init__(self) -> None:
        self.started: list[LinkLoop] = []

    def start(self, *args: Any, timeout: float = 90, **options: Any) -> LinkLoop:
        """One client: ``start(console_url, device, key, outbox, **LinkClient options)``."""
        return self.start_many(lambda: [link_client(*args, **options)], timeout)

    def start_many(self, make: Callable[[], list[LinkClient]], timeout: float = 90) -> LinkLoop:
        self.started.append(LinkLoop(make, timeout))
        return self.started[-1]

    def stop_all(self) -> None:
        for loop in self.started:
            with contextlib.suppress(Exception):
                loop.stop()
