"""How a model server spends the CPUs: a lone inference on every thread, overlapping ones on a
thread each.

onnxruntime can make one inference faster (intra-op threads) or run several at once (concurrent
``run`` calls); which is better depends on the load. An application calling from one thread
waits for each answer: only intra-op threads make its frames faster. An application calling
from several threads (the people counter), or several applications, keep more than one request
in flight: one thread per inference, as many at once as there are CPUs, has no intra-op
synchronization and keeps every core busy (on a 2-core machine 93 images/s against 83 for one
inference on two threads). So a server on the CPU holds two sessions of the model: ``parallel``
(``threads`` intra-op threads) and ``single`` (one), and ``CpuBudget`` gives each call its
session so that no more threads are busy than the server has CPUs.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Sessions:
    parallel: Any  # intra-op threads: every CPU of the server
    single: Any | None  # one thread, run concurrently; None: one session for everything (GPU)


class CpuBudget:
    """``units`` CPUs for at most ``concurrent`` inferences at a time. With two sessions
    (``split``), a call takes every unit (the parallel session) when the calls are sparse: it
    finds the server idle, nobody waiting, and no calls overlapped since the server was last
    idle before that. Any other call takes one unit (the single-thread session), waiting while
    none is free. With one session every call takes one unit.

    Overlap is what tells a load of several cameras or threads from one camera's frames: those
    calls keep arriving while others run, and one that found the server idle by chance would
    hold both CPUs while the next call waits for it (two threads of one inference also lose
    more to the light nodes' wake-ups than two single-thread ones)."""

    def __init__(self, units: int, concurrent: int, split: bool) -> None:
        self.units = max(1, units)
        self.concurrent = max(1, min(concurrent, self.units))
        self.split = split
        self._free = self.units
        self._running = 0
        self._waiting = 0
        self._overlap_now = False  # calls overlapped since the server was last idle
        self._overlapped = False  # calls overlapped in the busy spell before that
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def slot(self) -> Iterator[bool]:
        """Hold a share of the CPUs for one inference; yields whether it has all of them."""
        with self._changed:
            if self._running or self._waiting:
                self._overlap_now = True
            self._waiting += 1
            while self._free == 0 or self._running >= self.concurrent:
                self._changed.wait()
            self._waiting -= 1
            whole = (
                self.split
                and self._free == self.units
                and self._waiting == 0
                and not (self._overlap_now or self._overlapped)
            )
            taken = self.units if whole else 1
            self._free -= taken
            self._running += 1
        try:
            yield whole
        finally:
            with self._changed:
                self._free += taken
                self._running -= 1
                if self._running == 0 and self._waiting == 0:
                    self._overlapped, self._overlap_now = self._overlap_now, False
                self._changed.notify_all()

    @staticmethod
    def session(sessions: Sessions, whole: bool) -> Any:
        return sessions.parallel if whole or sessions.single is None else sessions.single


def plan(threads: int, workers: int | None, cpu_only: bool) -> tuple[int, bool]:
    """(inferences at once, whether to hold a single-thread session beside the parallel one):
    on the CPU as many at once as threads, each on one thread when they overlap; on a GPU one
    at a time unless told otherwise."""
    concurrent = workers or (threads if cpu_only else 1)
    return concurrent, cpu_only and threads > 1 and concurrent > 1
