"""Reports on their way to the console: checked, kept in the outbox until acknowledged.

One ``ReportQueue`` per agent, built before the link and given at construction to everything
that reports (jobs, stream checks, applications, log shipping) and to the link, which sends what
it holds in order and passes the console's acknowledgements back. Queueing never waits for the
link: a report queued while offline goes out after the next ``welcome``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Protocol

from pydantic import ValidationError

from devicelink.messages import REPORT_BODIES
from edge_agent.outbox import Outbox


class Reporter(Protocol):
    """What a part of the agent needs to report: a ``ReportQueue`` (or a test's recorder)."""

    def queue_report(self, kind: str, body: dict[str, Any]) -> int: ...


class FlushingReporter(Reporter, Protocol):
    """A reporter that can also wait until the console has everything (jobs, before a reboot)."""

    async def flush(self, timeout: float) -> bool: ...


class ReportQueue:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        # Set when a report is queued: wakes the link's sender.
        self.queued = asyncio.Event()
        self._acked = asyncio.Event()

    def queue_report(self, kind: str, body: dict[str, Any]) -> int:
        """Store a report in the outbox first, then wake the sender; returns its seq.

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
        seq = self.outbox.append(kind, body)
        self.queued.set()
        return seq

    def acknowledged(self, seq: int) -> None:
        """The console stored report ``seq``: it leaves the outbox."""
        self.outbox.ack(seq)
        self._acked.set()

    def count(self) -> int:
        return self.outbox.count()

    async def flush(self, timeout: float) -> bool:
        """Wait until the console acknowledged everything in the outbox; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.outbox.count():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._acked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acked.wait(), remaining)
        return True
