"""What the apps above devices plug into the device link: registries, filled in their
``AppConfig.ready()``.

devices sits below datasources and applications (docs/ARCHITECTURE.md, the layers), so the
link cannot import them. Instead each registers here what the link must call for it: the
handler of its report kinds, its section of the desired state, the messages a connection sends
after hello, what to do with new log lines, and so on. devices calls these without knowing who
is behind them; an empty registry means nobody asked (a handler that is missing is a bug in an
app's ``ready()``; devices/tests/test_hooks.py checks the registries are filled).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:  # type hints only: the models import nothing from here
    from django.http import HttpRequest

    from devicelink.messages import Heartbeat
    from devices.models import Device, DeviceLog

ReportHandler = Callable[["Device", Any], None]
HeartbeatHook = Callable[["Device", "Heartbeat"], None]
ClaimHook = Callable[[int, str, "dict[str, Any] | None"], Sequence[BaseModel]]
LogsHook = Callable[["list[DeviceLog]"], None]
SweepHook = Callable[[datetime], Any]
OfflineHook = Callable[["list[Device]"], None]
DesiredSection = Callable[["Device"], Any]
PageContext = Callable[["Device", "HttpRequest"], dict[str, Any]]

# A report body's type (devicelink.messages) → who stores it (ingest.on_report).
report_handlers: dict[type, ReportHandler] = {}
# Called with every heartbeat once the lease is renewed (best effort: failures are logged).
heartbeat_hooks: list[HeartbeatHook] = []
# By name: what a connection sends after its hello (``event`` None) and when another process
# sends it ``link.<name>`` (``event`` is that channel message).
link_claims: dict[str, ClaimHook] = {}
# New device log lines were stored (oldest first).
logs_hooks: list[LogsHook] = []
# The beat's sweep of expired leases ran at ``now`` (ingest.expire_leases).
sweep_hooks: list[SweepHook] = []
# These devices' leases ran out: they are OFFLINE now (ingest.expire_leases).
offline_hooks: list[OfflineHook] = []
# A field of the desired state (devicelink.messages.Desired) → what fills it for a device.
desired_sections: dict[str, DesiredSection] = {}
# More context for the device page (devices/views/device.py).
device_page_context: list[PageContext] = []
# The dashboard counts may have changed through the link (writes that send no model signals).
counts_changed_hooks: list[Callable[[], None]] = []


def on_report(body_type: type, handler: ReportHandler) -> None:
    report_handlers[body_type] = handler


def on_heartbeat(hook: HeartbeatHook) -> None:
    if hook not in heartbeat_hooks:
        heartbeat_hooks.append(hook)


def on_link_claim(name: str, hook: ClaimHook) -> None:
    link_claims[name] = hook


def on_logs(hook: LogsHook) -> None:
    if hook not in logs_hooks:
        logs_hooks.append(hook)


def on_sweep(hook: SweepHook) -> None:
    if hook not in sweep_hooks:
        sweep_hooks.append(hook)


def on_offline(hook: OfflineHook) -> None:
    if hook not in offline_hooks:
        offline_hooks.append(hook)


def desired_section(name: str, build: DesiredSection) -> None:
    desired_sections[name] = build


def on_device_page(hook: PageContext) -> None:
    if hook not in device_page_context:
        device_page_context.append(hook)


def on_counts_changed(hook: Callable[[], None]) -> None:
    if hook not in counts_changed_hooks:
        counts_changed_hooks.append(hook)
