"""The on-disk outbox: every report is written here before it is sent, and deleted when acked.

Reports are numbered 1, 2, 3, … per device, persistently, so that after a crash, a kill -9 or
a long time offline the agent sends exactly what the console has not stored yet, in order
(docs/protocol.md, "Delivery"). SQLite in WAL mode: a committed report survives the process
dying at any point; ``durable=False`` (synchronous=NORMAL) trades power-loss safety for speed,
which a benchmark of many simulated appliances may want.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE TABLE IF NOT EXISTS counters (
    device_id TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxEntry:
    seq: int
    time: float
    kind: str
    body: dict[str, Any]


def open_database(path: str | Path, *, durable: bool = True) -> sqlite3.Connection:
    """A connection set up for outboxes; pass it to several ``Outbox``es to share it."""
    # isolation_level=None: we open transactions ourselves, so each append is one commit.
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    if str(path) != ":memory:":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
    db.execute("PRAGMA busy_timeout=5000")
    db.executescript(_SCHEMA)
    return db


class Outbox:
    """The outbox of one device in a SQLite file (several devices may share one file).

    ``database`` is a path (this outbox opens and closes its own connection) or a connection
    from ``open_database`` shared by many outboxes in one thread, e.g. 1,000 simulated
    appliances in one event loop without 1,000 open files.
    """

    def __init__(
        self, database: str | Path | sqlite3.Connection, device_id: str, *, durable: bool = True
    ) -> None:
        self.device_id = device_id
        self._owned = not isinstance(database, sqlite3.Connection)
        if isinstance(database, sqlite3.Connection):
            self._db = database
        else:
            self._db = open_database(database, durable=durable)

    def close(self) -> None:
        if self._owned:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, kind: str, body: dict[str, Any], at: float | None = None) -> int:
        """Store a report under the next sequence number and return that number."""
        payload = json.dumps(body, separators=(",", ":"))
        with self._transaction():
            seq = self._last_seq() + 1
            self._set_last_seq(seq)
            self._db.execute(
                "INSERT INTO reports (device_id, seq, time, kind, body) VALUES (?, ?, ?, ?, ?)",
                (self.device_id, seq, time.time() if at is None else at, kind, payload),
            )
        return seq

    def store(self, seq: int, kind: str, body: dict[str, Any], at: float) -> None:
        """Store a report under a number handed out before (``ReportQueue`` held it in memory
        while the disk was full); the counter moves up to it."""
        payload = json.dumps(body, separators=(",", ":"))
        with self._transaction():
            if seq > self._last_seq():
                self._set_last_seq(seq)
            self._db.execute(
                "INSERT OR REPLACE INTO reports (device_id, seq, time, kind, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (self.device_id, seq, at, kind, payload),
            )

    def advance(self, seq: int) -> None:
        """Numbers up to ``seq`` are used (by reports the console stored from memory)."""
        with self._transaction():
            if seq > self._last_seq():
                self._set_last_seq(seq)

    def pending(self, after: int = 0, limit: int | None = None) -> list[OutboxEntry]:
        """Unacknowledged reports with ``seq > after``, oldest first."""
        rows = self._db.execute(
            "SELECT seq, time, kind, body FROM reports WHERE device_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (self.device_id, after, -1 if limit is None else limit),
        ).fetchall()
        return [OutboxEntry(seq, at, kind, json.loads(body)) for seq, at, kind, body in rows]

    def ack(self, seq: int) -> None:
        self._db.execute(
            "DELETE FROM reports WHERE device_id = ? AND seq = ?", (self.device_id, seq)
        )

    def drop_through(self, seq: int) -> None:
        """Forget every report up to ``seq``: the console has stored them."""
        self._db.execute(
            "DELETE FROM reports WHERE device_id = ? AND seq <= ?", (self.device_id, seq)
        )

    def resync(self, console_last_seq: int) -> None:
        """Line the outbox up with the console's ``welcome.last_seq``.

        Normally this drops what the console already stored. If the console is ahead of us or
        the rest would not follow its last report (our outbox was lost, or the console's
        database was restored), the remaining reports are renumbered to follow it, because
        the console refuses a gap and would acknowledge a lower number without storing it.
        """
        with self._transaction():
            if console_last_seq <= self._last_seq():
                self._db.execute(
                    "DELETE FROM reports WHERE device_id = ? AND seq <= ?",
                    (self.device_id, console_last_seq),
                )
            # else: the console saw numbers this outbox never handed out, so it was lost and
            # started over; everything in it is new to the console and keeps its order.
            seqs = [
                row[0]
                for row in self._db.execute(
                    "SELECT seq FROM reports WHERE device_id = ? ORDER BY seq", (self.device_id,)
                )
            ]
            expected = list(range(console_last_seq + 1, console_last_seq + 1 + len(seqs)))
            if seqs != expected:
                # Move out of the way first so the new numbers cannot collide with old ones.
                offset = max([*seqs, *expected, 0]) + 1
                self._db.execute(
                    "UPDATE reports SET seq = seq + ? WHERE device_id = ?",
                    (offset, self.device_id),
                )
                for new, old in zip(expected, seqs, strict=True):
                    self._db.execute(
                        "UPDATE reports SET seq = ? WHERE device_id = ? AND seq = ?",
                        (new, self.device_id, old + offset),
                    )
            if seqs != expected or self._last_seq() < console_last_seq:
                self._set_last_seq(console_last_seq + len(seqs))

    def count(self) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM reports WHERE device_id = ?", (self.device_id,)
        ).fetchone()
        return int(row[0])

    def last_seq(self) -> int:
        return self._last_seq()

    # --- internals ------------------------------------------------------------------------
    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _last_seq(self) -> int:
        row = self._db.execute(
            "SELECT last_seq FROM counters WHERE device_id = ?", (self.device_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    def _set_last_seq(self, seq: int) -> None:
        self._db.execute(
            "INSERT INTO counters (device_id, last_seq) VALUES (?, ?) "
            "ON CONFLICT (device_id) DO UPDATE SET last_seq = excluded.last_seq",
            (self.device_id, seq),
        )


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, so two processes on one file cannot hand out the same seq."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self._db.execute("ROLLBACK")
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error:
            # A full disk fails the commit; SQLite may or may not have rolled back already.
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise


def count_pending(path: Path) -> int | None:
    """How many reports wait in the outbox file, read-only (for ``status``); None if none."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT COUNT(*) FROM reports").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return None
