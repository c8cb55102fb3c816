"""Reports on their way to the console: checked, kept in the outbox until acknowledged.

One ``ReportQueue`` per agent, built before the link and given at construction to everything
that reports (jobs, stream checks, applications, log shipping) and to the link, which sends what
it holds in order and passes the console's acknowledgements back. Queueing never waits for the
link: a report queued while offline goes out after the next ``welcome``.

Queueing never waits on the disk either, and never loses a report to it: when the outbox cannot
store one (SQLite "database or disk is full", any OSError), it is held in memory, in order, and
stored again as soon as the disk takes it (retried every ``retry_s``, and before each new
report). Held reports are bounded (``max_held``): past it, a status report that a newer one of
the same subject supersedes (an instance's state, the network, the software version) goes
first, then the oldest log batch; each drop is counted and said once the disk is back.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from devicelink.messages import REPORT_BODIES
from edge_agent.outbox import Outbox

logger = logging.getLogger("edge_agent.reports")
# Reports whose newest one says everything the older ones of the same subject said.
_SUBJECTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "applications": lambda body: str(body.get("application_instance_id")),
    "network": lambda body: "",
    "software": lambda body: "",
    "applied": lambda body: "",
}


@dataclass
class _Held:
    kind: str
    body: dict[str, Any]
    at: float


class Reporter(Protocol):
    """What a part of the agent needs to report: a ``ReportQueue`` (or a test's recorder)."""

    def queue_report(self, kind: str, body: dict[str, Any]) -> int: ...


class FlushingReporter(Reporter, Protocol):
    """A reporter that can also wait until the console has everything (jobs, before a reboot)."""

    async def flush(self, timeout: float) -> bool: ...


class ReportQueue:
    def __init__(self, outbox: Outbox, *, max_held: int = 2000, retry_s: float = 2.0) -> None:
        self.outbox = outbox
        self.max_held = max_held
        self.retry_s = retry_s
        # Set when a report is queued: wakes the link's sender.
        self.queued = asyncio.Event()
        self._acked = asyncio.Event()
        self._held: collections.deque[_Held] = (
            collections.deque()
        )  # not stored yet: the disk refused them
        self.dropped = 0  # held reports given up for room (superseded ones first)
        self._retry: asyncio.TimerHandle | None = None
        self._error = ""

    def queue_report(self, kind: str, body: dict[str, Any]) -> int:
        """Store a report in the outbox first, then wake the sender; returns its seq (0 when
        the disk refused it and it is held in memory, to be stored as soon as it can be).

        ValueError for a kind or body the console would refuse: once in the outbox, such a
        report would be sent again after every reconnect and block everything behind it.
        """
        model = REPORT_BODIES.get(kind)
        if model is None:
            raise ValueError(f"unknown report kind {kind!r}")
        try:
            model.model_validate(body)
        except ValidationError as exc:
            raise ValueError(f"{kind} report: {exc.errors()[0]['msg']}") from None
        if self._held:
            self._hold(_Held(kind, body, time.time()))  # behind those: reports keep their order
            self.store_held()
            return 0
        try:
            seq = self.outbox.append(kind, body)
        except (sqlite3.Error, OSError) as exc:
            self._hold(_Held(kind, body, time.time()))
            self._refused(exc)
            return 0
        self.queued.set()
        return seq

    @property
    def held(self) -> int:
        """Reports waiting in memory for the disk."""
        return len(self._held)

    def store_held(self) -> bool:
        """Move the held reports into the outbox, oldest first; True once none is left."""
        stored = 0
        while self._held:
            report = self._held[0]
            try:
                self.outbox.append(report.kind, report.body, at=report.at)
            except (sqlite3.Error, OSError) as exc:
                self._refused(exc)
                break
            self._held.popleft()
            stored += 1
        if stored:
            self.queued.set()
        if not self._held and self._error:
            dropped, self.dropped, self._error = self.dropped, 0, ""
            logger.warning(
                "The outbox takes reports again; %d held report(s) stored%s.", stored,
                f", {dropped} older one(s) dropped for room" if dropped else "",
            )  # fmt: skip
        return not self._held

    def _hold(self, report: _Held) -> None:
        self._held.append(report)
        if len(self._held) <= self.max_held:
            return
        # The oldest status report that a newer one of its subject supersedes goes first.
        names = [self._subject(held) for held in self._held]
        counts = collections.Counter(name for name in names if name is not None)
        for index, name in enumerate(names):
            if name is not None and counts[name] > 1:
                del self._held[index]
                self.dropped += 1
                return
        logs = next((i for i, held in enumerate(self._held) if held.kind == "logs"), 0)
        del self._held[logs]
        self.dropped += 1

    @staticmethod
    def _subject(held: _Held) -> tuple[str, str] | None:
        key = _SUBJECTS.get(held.kind)
        return (held.kind, key(held.body)) if key is not None else None

    def _refused(self, exc: Exception) -> None:
        message = str(exc)
        if message != self._error:  # once per kind of failure, not once per report
            logger.warning(
                "The outbox cannot store reports (%s); %d held in memory until it can.",
                message, len(self._held),
            )  # fmt: skip
            self._error = message
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        if self._retry is not None and not self._retry.cancelled():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a thread): retried before the next report
        self._retry = loop.call_later(self.retry_s, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        if not self.store_held():
            self._schedule_retry()

    def acknowledged(self, seq: int) -> None:
        """The console stored report ``seq``: it leaves the outbox."""
        try:
            self.outbox.ack(seq)
        except (sqlite3.Error, OSError) as exc:
            # It stays until the next welcome, whose last_seq drops it (Outbox.resync).
            logger.debug("report %d stays in the outbox for now: %s", seq, exc)
        self._acked.set()

    def count(self) -> int:
        return self.outbox.count() + len(self._held)

    async def flush(self, timeout: float) -> bool:
        """Wait until the console acknowledged everything in the outbox; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.count():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._acked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acked.wait(), min(remaining, self.retry_s))
            if self._held:
                self.store_held()
        return True
