"""The agent's logs: a rotating file, the USB provisioning logs, and shipping to the console.

Every record gets a stream, as Panorama names them: ``occ_log`` (provisioning, the link, app
control), ``ota_log`` (software updates) and ``syslog`` (everything else). A record can name its
stream with ``extra={"stream": ...}``; otherwise its logger decides.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import logging.handlers
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devicelink.messages import MAX_LOG_ENTRIES, MAX_LOG_MESSAGE

OCC_LOGGERS = ("edge_agent.provision", "edge_agent.link", "edge_agent.agent", "edge_agent.apps")
OTA_LOGGERS = ("edge_agent.software", "edge_agent.ota")
USB_FILES = {"occ_log": "occ.log", "ota_log": "ota_agent.log"}
LOG_FILE = "agent.log"
_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) (?P<level>[A-Z]+) (?P<stream>[a-z_]+) "
    r"(?P<logger>\S+): (?P<message>.*)$"
)
MAX_MESSAGE = MAX_LOG_MESSAGE


def stream_of(record: logging.LogRecord) -> str:
    stream = getattr(record, "stream", None)
    if isinstance(stream, str):
        return stream
    if record.name.startswith(OTA_LOGGERS):
        return "ota_log"
    if record.name.startswith(OCC_LOGGERS):
        return "occ_log"
    return "syslog"


class _Formatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO occ_log edge_agent.link: message`` (UTC, parseable)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        text = (
            f"{when}Z {record.levelname} {stream_of(record)} {record.name}: {record.getMessage()}"
        )
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _rotated_name(default_name: str) -> str:
    # agent.log.1 → agent.1.log, so every generation matches <data>/logs/*.log.
    base, _, number = default_name.rpartition(".")
    return f"{base.removesuffix('.log')}.{number}.log" if number.isdigit() else default_name


class _FileHandler(logging.handlers.RotatingFileHandler):
    """agent.log: a record that cannot be written (a full disk) is dropped quietly; the link
    still ships it, and a traceback on stderr for every record would only add to the noise."""

    def handleError(self, record: logging.LogRecord) -> None:
        self.dropped = getattr(self, "dropped", 0) + 1


def file_handler(logs_dir: Path) -> logging.Handler:
    logs_dir.mkdir(parents=True, exist_ok=True)
    handler = _FileHandler(
        logs_dir / LOG_FILE, maxBytes=1024 * 1024, backupCount=5, encoding="utf-8"
    )
    handler.namer = _rotated_name
    handler.setFormatter(_Formatter())
    return handler


def setup_logging(logs_dir: Path, level: str = "INFO") -> list[logging.Handler]:
    """Log to ``<data>/logs/agent.log`` and stderr; returns the handlers it added."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    handler = file_handler(logs_dir)
    console = logging.StreamHandler()
    console.setFormatter(_Formatter())
    root.addHandler(handler)
    root.addHandler(console)
    # websockets logs every frame at debug level; that is never wanted in the agent's log.
    logging.getLogger("websockets").setLevel(logging.INFO)
    return [handler, console]


def read_log_entries(logs_dir: Path, limit: int = 50_000) -> list[dict[str, Any]]:
    """The entries of ``<data>/logs/*.log``, oldest first (for the offline log image)."""

    def age(path: Path) -> int:  # agent.5.log is the oldest, agent.log the newest
        middle = path.name.removesuffix(".log").rpartition(".")[2]
        return -int(middle) if middle.isdigit() else 0

    entries: list[dict[str, Any]] = []
    for path in sorted(logs_dir.glob("*.log"), key=age):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            match = _LINE.match(line)
            if match:
                when = datetime.strptime(match["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
                entries.append(
                    {
                        "time": when.replace(tzinfo=UTC).timestamp(),
                        "stream": match["stream"],
                        "level": match["level"],
                        "message": match["message"],
                    }
                )
            elif entries and len(entries[-1]["message"]) < MAX_MESSAGE:
                entries[-1]["message"] += "\n" + line  # a traceback continues its record
    return entries[-limit:]


class UsbLogHandler(logging.Handler):
    """Writes the provisioning logs to ``<usb>/panorama/``, where an operator can read them.

    ``occ.log`` gets provisioning and link records, ``ota_agent.log`` software updates, and
    ``syslog.log`` every record. A USB stick that is missing or read-only must not stop the
    agent, so write errors are ignored.
    """

    def __init__(self, usb_dir: Path) -> None:
        super().__init__(logging.INFO)
        self.folder = usb_dir / "panorama"
        self.setFormatter(_Formatter())
        try:  # all three files exist from the start, as on a Panorama appliance
            self.folder.mkdir(parents=True, exist_ok=True)
            for name in (*USB_FILES.values(), "syslog.log"):
                (self.folder / name).touch()
        except OSError:
            pass

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            self.folder.mkdir(parents=True, exist_ok=True)
            names = ["syslog.log"]
            if stream_of(record) in USB_FILES:
                names.insert(0, USB_FILES[stream_of(record)])
            for name in names:
                with open(self.folder / name, "a", encoding="utf-8") as handle:
                    handle.write(line)
        except Exception:  # noqa: S110 (see the class docstring)
            pass


class LogShipper(logging.Handler):
    """Collects INFO+ records and hands them, batched, to a ``logs`` report sender.

    Records from any thread are buffered (bounded, oldest dropped first); ``run()`` flushes
    every ``interval_s`` or as soon as ``batch`` records wait. Before the link exists (while
    provisioning) records are kept and shipped once it does. Only the agent's own INFO+
    records and other libraries' warnings are shipped, and the link's chatter about sending is
    at debug level, so shipping never produces records to ship.
    """

    def __init__(self, *, batch: int = 100, interval_s: float = 1.0, keep: int = 5000) -> None:
        super().__init__(logging.INFO)
        self.batch = batch
        self.interval_s = interval_s
        self._buffer: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._full = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("edge_agent") and record.levelno < logging.WARNING:
            return
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        entry = {
            "time": record.created,
            "stream": stream_of(record),
            "level": record.levelname if record.levelname in _LEVELS else "INFO",
            "message": message[:MAX_MESSAGE],
        }
        with self._lock:
            self._buffer.append(entry)
            size = len(self._buffer)
        if size >= self.batch and self._loop is not None:
            self._loop.call_soon_threadsafe(self._full.set)

    def take(self, limit: int = MAX_LOG_ENTRIES) -> list[dict[str, Any]]:
        with self._lock:
            count = min(limit, len(self._buffer))
            return [self._buffer.popleft() for _ in range(count)]

    async def run(self, send: Callable[[list[dict[str, Any]]], object]) -> None:
        """Ship batches through ``send(entries)`` until cancelled; ships the rest at the end."""
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.interval_s)
                self._full.clear()
                self.ship(send)
        finally:
            self.ship(send)

    def ship(self, send: Callable[[list[dict[str, Any]]], object]) -> None:
        while entries := self.take():
            try:
                send(entries)
            except Exception:  # the outbox is gone (stopping): these entries are in agent.log
                return


_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
