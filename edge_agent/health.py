"""The health figures every heartbeat carries (CPU, memory, disk, temperature, uptime, load)."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import psutil

from devicelink.messages import Health

logger = logging.getLogger("edge_agent.health")
DISK_WARN_ENV = "VANTAGE_AGENT_DISK_WARN_MIB"
DEFAULT_DISK_WARN_MIB = 1024

# Sensor chips that measure the CPU or the board, most telling first.
_PREFERRED_SENSORS = ("coretemp", "k10temp", "cpu_thermal", "soc_thermal", "acpitz")


def read_temperature() -> float | None:
    """The first readable CPU/board temperature in °C, or None where there is none."""
    try:
        sensors = psutil.sensors_temperatures()
    except (AttributeError, OSError):
        return None
    if not sensors:
        return None
    names = [n for n in _PREFERRED_SENSORS if n in sensors] + sorted(sensors)
    for name in names:
        for reading in sensors.get(name, []):
            if reading.current is not None and reading.current > -50:
                return round(float(reading.current), 1)
    return None


class HealthProvider:
    """Callable that measures the appliance's health; cheap enough to run every heartbeat."""

    def __init__(self, disk_path: Path, warn_bytes: int | None = None) -> None:
        self.disk_path = disk_path
        # Below this much free space the agent's log says so, once (and again after it had
        # room): the console warns on its own threshold (DEVICE_DISK_WARN_MIB).
        if warn_bytes is None:
            raw = os.environ.get(DISK_WARN_ENV, "").strip()
            try:
                warn_bytes = int(float(raw or DEFAULT_DISK_WARN_MIB) * 1024**2)
            except ValueError:
                raise ValueError(f"{DISK_WARN_ENV}={raw!r} is not a number of MiB") from None
        self.warn_bytes = warn_bytes
        self._low = False
        # The first cpu_percent(None) call only starts the measurement; prime it now so the
        # first heartbeat already carries a real figure.
        psutil.cpu_percent(interval=None)

    def __call__(self) -> Health:
        disk: float | None = None
        free: int | None = None
        try:
            usage = psutil.disk_usage(str(self.disk_path))  # statvfs: never waits on writes
            disk, free = usage.percent, usage.free
        except OSError:
            pass
        if free is not None:
            self._watch(free)
        try:
            load: float | None = round(os.getloadavg()[0], 2)
        except OSError:
            load = None
        return Health(
            cpu_percent=psutil.cpu_percent(interval=None),
            memory_percent=psutil.virtual_memory().percent,
            disk_percent=disk,
            disk_free_bytes=free,
            temperature_c=read_temperature(),
            uptime_s=round(time.time() - psutil.boot_time(), 1),
            load_1m=load,
        )

    def _watch(self, free: int) -> None:
        low = free < self.warn_bytes
        if low and not self._low:
            logger.warning(
                "Low disk space: %.0f MiB free in %s, less than %.0f MiB (%s). Downloads fail "
                "and application output is dropped when the disk is full.",
                free / 1024**2, self.disk_path, self.warn_bytes / 1024**2, DISK_WARN_ENV,
            )  # fmt: skip
        elif self._low and not low:
            logger.info("The disk has room again: %.0f MiB free.", free / 1024**2)
        self._low = low
