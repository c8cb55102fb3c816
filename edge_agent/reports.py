"""Reports on their way to the console: checked, kept in the outbox until acknowledged.

One ``ReportQueue`` per agent, built before the link and given at construction to everything
that reports (jobs, stream checks, applications, log shipping) and to the link, which sends what
it holds in order and passes the console's acknowledgements back. Queueing never waits for the
link: a report queued while offline goes out after the next ``welcome``.

Queueing never waits on the disk either, and never loses a report to it: when the outbox cannot
store one (SQLite "database or disk is full", any OSError), it is held in memory, in order, under
the next sequence number, and the link sends it from there like any other: a full disk does not
keep an install error from the console. It is stored as soon as the disk takes it (retried
every ``retry_s``, and before each new report), unless the console acknowledged it first. Held
reports are bounded (``max_held``): past it, an unsent status report that a newer one of the
same subject supersedes (an instance's state, the network, the software version) goes first,
then the oldest unsent log batch (the numbers behind it close up, so the console sees no gap);
each drop is counted and said once the disk is back.
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
from edge_agent.outbox import Outbox, OutboxEntry

logger = logging.getLogger("edge_agent.reports")
_DISK_ERRORS = (sqlite3.Error, OSError)
# Reports whose newest one says everything the older ones of the same subject said.
_SUBJECTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "applications": lambda body: str(body.get("application_instance_id")),
    "network": lambda body: "",
    "software": lambda body: "",
    "applied": lambda body: "",
}


@dataclass
class _Held:
    seq: int
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
        self._held: collections.deque[_Held] = collections.deque()  # the disk refused them
        # The outbox's counter must reach this before a held report is stored: the console
        # acknowledged held reports up to here, which the outbox never stored.
        self._floor = 0
        self._known_seq = 0
        self.sent_through = 0  # the link's: reports up to here are on their way (never dropped)
        self.dropped = 0  # held reports given up for room (superseded ones first)
        self._retry: asyncio.TimerHandle | None = None
        self._error = ""

    def queue_report(self, kind: str, body: dict[str, Any]) -> int:
        """Store a report in the outbox first (held in memory when the disk refuses it), then
        wake the sender; returns its seq.

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
        if self._held or self._floor:
            # Behind those (reports keep their order), or after numbers the console has from
            # memory, which the outbox's counter must pass first.
            seq = self._hold(kind, body)
            self.store_held()
        else:
            try:
                seq = self._known_seq = self.outbox.append(kind, body)
            except _DISK_ERRORS as exc:
                seq = self._hold(kind, body)
                self._refused(exc)
            else:
                self._recovered(0)
        self.queued.set()
        return seq

    @property
    def held(self) -> int:
        """Reports waiting in memory for the disk."""
        return len(self._held)

    def pending(self, after: int, limit: int = 100) -> list[OutboxEntry]:
        """What waits for the console beyond ``after``, in order: the outbox's, then the held."""
        try:
            entries = self.outbox.pending(after=after, limit=limit)
        except _DISK_ERRORS as exc:  # reading can fail too (SQLite's index of its log)
            logger.debug("the outbox cannot be read: %s", exc)
            entries = []
        held = [
            OutboxEntry(report.seq, report.at, report.kind, report.body)
            for report in self._held
            if report.seq > after and report.seq not in {e.seq for e in entries}
        ]
        return (entries + held)[:limit]

    def store_held(self) -> bool:
        """Move the held reports into the outbox, oldest first; True once none is left."""
        stored = 0
        try:
            if self._floor > self.outbox.last_seq():
                self.outbox.advance(self._floor)
            self._floor = 0
            while self._held:
                report = self._held[0]
                self.outbox.store(report.seq, report.kind, report.body, report.at)
                self._held.popleft()
                stored += 1
        except _DISK_ERRORS as exc:
            self._refused(exc)
            return False
        if stored:
            self._recovered(stored)
        return not self._held

    def _recovered(self, stored: int) -> None:
        """A write went through: the disk takes reports again (said once)."""
        if not self._error or self._held:
            return
        dropped, self.dropped, self._error = self.dropped, 0, ""
        logger.warning(
            "The outbox takes reports again; %d held report(s) stored%s.", stored,
            f", {dropped} unsent one(s) dropped for room" if dropped else "",
        )  # fmt: skip

    def _next_seq(self) -> int:
        if self._held:
            return self._held[-1].seq + 1
        return max(self._last_seq(), self._floor) + 1

    def _hold(self, kind: str, body: dict[str, Any]) -> int:
        seq = self._next_seq()
        self._held.append(_Held(seq, kind, body, time.time()))
        if len(self._held) > self.max_held:
            self._drop_one()
        return self._held[-1].seq

    def _drop_one(self) -> None:
        """Give up one unsent held report: a superseded status report, else the oldest log
        batch, else the oldest; the numbers of those behind it close up."""
        unsent = [i for i, held in enumerate(self._held) if held.seq > self.sent_through]
        if not unsent:
            return  # everything held is on its way already
        names = {i: self._subject(self._held[i]) for i in unsent}
        counts = collections.Counter(names.values())
        superseded = [i for i in unsent if names[i] is not None and counts[names[i]] > 1]
        logs = [i for i in unsent if self._held[i].kind == "logs"]
        choice = (superseded or logs or unsent)[0]
        for later in list(self._held)[choice + 1 :]:
            later.seq -= 1
        del self._held[choice]
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
        if self._held and not self.store_held():
            self._schedule_retry()

    def resync(self, console_last_seq: int) -> None:
        """Line up with the console's ``welcome.last_seq`` (``Outbox.resync``), held reports
        included: those the console has go, the others follow what the outbox holds."""
        try:
            self.outbox.resync(console_last_seq)
        except _DISK_ERRORS as exc:  # nothing rewritten: what it has is skipped when sending
            logger.debug("the outbox could not be lined up with the console: %s", exc)
        self.sent_through = console_last_seq
        if not self._held:
            return
        self._held = collections.deque(h for h in self._held if h.seq > console_last_seq)
        base = max(console_last_seq, self._last_seq())
        self._floor = base  # the counter catches up before a held report is stored
        for number, held in enumerate(self._held, base + 1):
            held.seq = number

    def acknowledged(self, seq: int) -> None:
        """The console stored report ``seq``: it leaves the outbox (or memory)."""
        try:
            self.outbox.ack(seq)
        except _DISK_ERRORS as exc:
            # It stays until the next welcome, whose last_seq drops it (Outbox.resync).
            logger.debug("report %d stays in the outbox for now: %s", seq, exc)
        while self._held and self._held[0].seq <= seq:
            self._held.popleft()
            self._floor = max(self._floor, seq)
        self._acked.set()

    def count(self) -> int:
        try:
            return self.outbox.count() + len(self._held)
        except _DISK_ERRORS:
            return len(self._held) + 1  # something may wait in the outbox too

    def _last_seq(self) -> int:
        """The outbox's counter; the last one read if it cannot be read now."""
        try:
            self._known_seq = self.outbox.last_seq()
        except _DISK_ERRORS as exc:
            logger.debug("the outbox cannot be read: %s", exc)
        return self._known_seq

    async def flush(self, timeout: float) -> bool:
        """Wait until the console acknowledged everything in the outbox; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.count():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._acked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acked.wait(), remaining)
        return True
