"""The health figures every heartbeat carries (CPU, memory, disk, temperature, uptime, load)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil

from devicelink.messages import Health

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

    def __init__(self, disk_path: Path) -> None:
        self.disk_path = disk_path
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
