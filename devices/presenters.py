"""The device page's presenter: what its partials and the list's rows show of a device.

The device page, the setup page and the live updates (devices/live.py) render the very same
partials with the same context (``device_context``), so what arrives live is what a reload would
show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Prefetch

from core.status import DeviceConnectionStatus, DeviceStatus, JobType, UpdateProgress
from devices import provisioning, secrets
from devices.models import (
    TERMINAL_JOB_STATUSES,
    Device,
    DeviceJob,
    DeviceJobEvent,
    SoftwareImage,
)

# What a change can touch on the device page and the list.
SECTIONS = ("status", "network", "software", "health", "jobs", "logs", "details")
JOBS_SHOWN = 10
LOG_LINES_SHOWN = 200


# --- the status light ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusLight:
    """What the appliance's status LED shows (the hardware guide's list), and what it means."""

    colour: str  # green, blue, red, orange, off
    blink: str  # solid, slow (once every three seconds), fast (once a second)
    meaning: str

    @property
    def label(self) -> str:
        if self.colour == "off":
            return "Off"
        pattern = {"solid": "Solid", "slow": "Slowly blinking", "fast": "Fast blinking"}
        return f"{pattern[self.blink]} {self.colour}"


_UPDATING = (UpdateProgress.DOWNLOADING, UpdateProgress.VERIFYING, UpdateProgress.IN_PROGRESS)


def status_light(device: Device, running: DeviceJob | None) -> StatusLight:
    """The light for the device's state; the first rule that matches wins, as in the badge."""
    provisioning = device.provisioning_status
    if provisioning == DeviceStatus.DELETING:
        return StatusLight("off", "solid", "The device is being deleted from the console.")
    if provisioning in (DeviceStatus.ERROR, DeviceStatus.FAILED) or (
        device.connection_status == DeviceConnectionStatus.ERROR
    ):
        return StatusLight(
            "red",
            "solid",
            "The appliance encountered an error during start-up or set-up, or is overheating. "
            "Its logs say more.",
        )
    if provisioning == DeviceStatus.AWAITING_PROVISIONING:
        return StatusLight(
            "off",
            "solid",
            "Not set up yet: the console has not heard from the appliance. Once it reads its "
            "configuration archive from the USB drive, the light blinks blue slowly.",
        )
    if provisioning == DeviceStatus.PENDING:
        return StatusLight(
            "blue",
            "slow",
            "The appliance is copying its configuration file and registering with the console.",
        )
    rebooting = device.activity == "REBOOTING" or (
        running is not None and running.status == UpdateProgress.REBOOTING
    )
    if rebooting:
        return StatusLight("green", "fast", "The appliance is booting up.")
    if device.connection_status != DeviceConnectionStatus.ONLINE:
        return StatusLight(
            "off",
            "solid",
            "The console does not hear from the appliance: it is off, or it cannot reach the "
            "console over the network.",
        )
    if running is not None and running.job_type == JobType.OTA and running.status in _UPDATING:
        return StatusLight(
            "orange",
            "slow",
            f"The appliance is installing software version {running.image_version}.",
        )
    return StatusLight("green", "solid", "The appliance is operating normally.")


# --- what the partials need ---------------------------------------------------------------------


def running_job(device: Device) -> DeviceJob | None:
    return device.jobs.exclude(status__in=TERMINAL_JOB_STATUSES).order_by("created", "id").first()


def recent_jobs(device: Device) -> list[DeviceJob]:
    events = Prefetch("events", queryset=DeviceJobEvent.objects.order_by("time", "id"))
    return list(device.jobs.select_related("created_by").prefetch_related(events)[:JOBS_SHOWN])


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def health_view(health: dict[str, Any]) -> list[dict[str, Any]]:
    """The heartbeat's health figures as rows; figures the agent did not send are left out."""
    rows = []
    for key, label in (
        ("cpu_percent", "CPU"),
        ("memory_percent", "Memory"),
        ("disk_percent", "Disk"),
    ):
        value = _number(health.get(key))
        if value is not None:
            percent = max(0.0, min(100.0, value))
            rows.append(
                {"key": key, "label": label, "text": f"{value:.0f} %", "percent": f"{percent:.0f}"}
            )
    free = _number(health.get("disk_free_bytes"))
    if free is not None:
        rows.append(_disk_free_row(free))
    temperature = _number(health.get("temperature_c"))
    if temperature is not None:
        rows.append(
            {"key": "temperature_c", "label": "Temperature", "text": f"{temperature:.1f} °C"}
        )
    load = _number(health.get("load_1m"))
    if load is not None:
        rows.append({"key": "load_1m", "label": "Load (1 min)", "text": f"{load:.2f}"})
    uptime = _number(health.get("uptime_s"))
    if uptime is not None:
        rows.append({"key": "uptime_s", "label": "Up for", "text": _duration(uptime)})
    return rows


def _disk_free_row(free: float) -> dict[str, Any]:
    """Free space on the appliance's data disk, with a warning under DEVICE_DISK_WARN_MIB."""
    text = f"{free / 1024**3:.1f} GiB" if free >= 1024**3 else f"{free / 1024**2:.0f} MiB"
    row: dict[str, Any] = {"key": "disk_free_bytes", "label": "Disk free", "text": text}
    threshold = settings.DEVICE_DISK_WARN_MIB
    if free < threshold * 1024**2:
        row["warning"] = (
            f"Low disk space: {text} free, less than {threshold} MiB (DEVICE_DISK_WARN_MIB). "
            "Downloads fail and application logs are dropped when the disk is full."
        )
    return row


def _configured(ethernet: dict[str, Any]) -> str:
    if ethernet.get("ConnectionType") != "STATIC_IP":
        return "DHCP"
    info = ethernet.get("StaticIpConnectionInfo") or {}
    dns = ", ".join(info.get("Dns", []))
    return (
        f"Static: {info.get('IpAddress', '?')} mask {info.get('Mask', '?')}, gateway "
        f"{info.get('DefaultGateway', '?')}, DNS {dns or '?'}"
    )


def network_view(device: Device) -> dict[str, Any]:
    """What the appliance reported (CurrentNetworkingStatus) next to what it was configured with."""
    reported = device.network_status or {}
    configured = device.network_config or {}
    ports = []
    for name in ("Ethernet0", "Ethernet1"):
        status = reported.get(f"{name}Status") or {}
        ports.append(
            {
                "name": name,
                "status": status.get("ConnectionStatus", ""),
                "ip": status.get("IpAddress", "") or "--",
                "mac": status.get("HwAddress", "") or "--",
                "interface": status.get("InterfaceName", ""),
                "configured": _configured(configured.get(name) or {}),
            }
        )
    ntp = reported.get("NtpStatus") or {}
    return {
        "reported": bool(reported),
        "ports": ports,
        "ntp_status": ntp.get("ConnectionStatus", ""),
        "ntp_server": ntp.get("NtpServerName", "") or "--",
        "ntp_ip": ntp.get("IpAddress", "") or "--",
        "ntp_configured": (configured.get("Ntp") or {}).get("NtpServers", []),
    }


def device_context(device: Device, sections: Iterable[str] = SECTIONS) -> dict[str, Any]:
    """The context of the device partials for ``sections`` (a fresh read of the device)."""
    sections = set(sections)
    fresh = Device.objects.with_aggregated_status().filter(pk=device.pk).first()
    context: dict[str, Any] = {"device": fresh, "sections": sections}
    if fresh is None:
        return context
    running = running_job(fresh)
    context["running_job"] = running
    if sections & {"status", "software"}:
        context["light"] = status_light(fresh, running)
        context["latest"] = SoftwareImage.objects.newest()
        context["setup"] = provisioning.setup_state(fresh)
        context["setup_steps"] = provisioning.step_list(context["setup"].step)
        context["newer"] = SoftwareImage.objects.newer_than(fresh.current_software)
        required = [image for image in context["newer"] if image.required]
        context["required_update"] = required[0] if required else None
    if "details" in sections:
        context["secrets_withheld"] = secrets.withheld_reason(fresh)
    if "jobs" in sections:
        context["jobs"] = recent_jobs(fresh)
    if "health" in sections:
        context["health"] = health_view(fresh.health or {})
    if "network" in sections:
        context["network"] = network_view(fresh)
    return context


def fleet_context(device: Device) -> dict[str, Any]:
    """What the list's row cells need: a heartbeat re-renders them, so this stays small."""
    fresh = Device.objects.with_aggregated_status().filter(pk=device.pk).first()
    return {"device": fresh, "latest": SoftwareImage.objects.newest() if fresh else None}
