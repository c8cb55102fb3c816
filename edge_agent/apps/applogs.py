"""The log shipper of applications: their lines and files, as ``logs`` reports to the console.

Every entry names its application instance and node, and a stream as Panorama names them:
``console_output`` (a code node's stdout and stderr), ``code`` (files the application writes
under its logs folder, ``<data>/apps/<iid>/logs/code/``), and ``stream``, ``model``,
``display`` (the runtime processes' stderr records).

Backpressure. The agent's outbox keeps every report on disk until the console acknowledges it;
an application that logs a lot while the console is away must not fill the disk through it.
While the outbox holds ``max_backlog`` reports or more, nothing is shipped:

- ``line()`` entries wait in a bounded buffer; on overflow the oldest are dropped and counted,
  and one WARNING entry per node and stream ("N log lines were dropped") follows later;
- followed files are not read further: their read position keeps the rest on disk, so nothing
  is lost unless rotation (at ``rotate_bytes``, copy then truncate, one ``.1`` copy kept) has
  to overwrite a ``.1`` copy that was not read to its end yet. A rotation copies what was not
  read into ``.1``, and reading continues there before the file itself.

Levels of console output (``ConsoleLevels``): stdout is INFO. On stderr, a Python traceback
(from ``Traceback (most recent call last):`` through its exception line) is ERROR, a line that
names a level as a word (``ERROR``, ``WARNING``, ``INFO``, ... as Python's logging writes them)
has that level, and any other line is WARNING: a program writes to stderr what is not its
normal output. Each traceback and each ERROR/CRITICAL line on stderr counts as one error of
the node (``AppMetrics.error``). Lines of ``code`` files have the level they name, else INFO.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devicelink.messages import MAX_LOG_ENTRIES, MAX_LOG_MESSAGE
from edge_agent.apps.metrics import AppMetrics

logger = logging.getLogger("edge_agent.apps")
Send = Callable[[list[dict[str, Any]]], object]
MAX_MESSAGE = MAX_LOG_MESSAGE
MAX_ENTRIES = MAX_LOG_ENTRIES  # per logs report
ROTATED = ".1"
_LEVEL_WORD = re.compile(r"\b(DEBUG|INFO|WARN|WARNING|ERROR|CRITICAL|FATAL)\b")
_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = ("During handling of the above exception", "The above exception was the direct")


def named_level(text: str) -> str | None:
    """The level a line names as a word near its start (``2026-… ERROR x``), if any."""
    match = _LEVEL_WORD.search(text[:200])
    return _ALIASES.get(match[1], match[1]) if match else None


class ConsoleLevels:
    """Levels of one output's lines; remembers whether a traceback is being printed."""

    def __init__(self) -> None:
        self._in_traceback = False
        self._after_traceback = False  # a chained traceback may follow its blank line

    def level(self, text: str, default: str) -> tuple[str, bool]:
        """(level, whether this line starts an error) for a line whose plain level is default."""
        after, self._after_traceback = self._after_traceback, False
        if text.startswith(_TRACEBACK):
            self._in_traceback = True
            return "ERROR", not after  # a chained traceback is the same error
        if after and (not text.strip() or text.startswith(_CHAINED)):
            self._after_traceback = True
            return "ERROR", False
        if self._in_traceback:
            # Frames and source lines are indented; the exception line ends the traceback.
            if not text[:1].isspace() and text.strip():
                self._in_traceback = False
                self._after_traceback = True
            return "ERROR", False
        named = named_level(text)
        if named is not None:
            return named, named in ("ERROR", "CRITICAL")
        return default, False


@dataclass
class _Tail:
    """One followed file: where reading goes on, and a rotated copy still to finish."""

    path: Path
    inode: int = 0
    offset: int = 0
    old_offset: int | None = None  # position in <path>.1 after a rotation
    old_end: int = 0
    stalled_since: float | None = None  # when an unterminated last line was first seen
    levels: ConsoleLevels = field(default_factory=ConsoleLevels)


@dataclass
class _Followed:
    application_instance_id: str
    node: str
    folder: Path
    tails: dict[Path, _Tail] = field(default_factory=dict)


class AppLogs:
    def __init__(
        self,
        *,
        metrics: AppMetrics | None = None,
        state_file: Path | None = None,
        keep: int = 5000,
        batch: int = 200,
        interval_s: float = 1.0,
        max_backlog: int = 50,
        rotate_bytes: int = 10 * 1024 * 1024,
        read_bytes: int = 1024 * 1024,
        max_files: int = 64,
        partial_flush_s: float = 2.0,
    ) -> None:
        self.metrics = metrics if metrics is not None else AppMetrics()
        self.state_file = state_file
        self.keep = keep
        self.batch = batch
        self.interval_s = interval_s
        self.max_backlog = max_backlog
        self.rotate_bytes = rotate_bytes
        self.read_bytes = read_bytes
        self.max_files = max_files
        self.partial_flush_s = partial_flush_s
        self._buffer: collections.deque[dict[str, Any]] = collections.deque()
        self._dropped: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self._lost: list[dict[str, Any]] = []  # warnings about rotated, unread bytes
        self._consoles: dict[tuple[str, str, bool], ConsoleLevels] = {}
        self._followed: dict[tuple[str, Path], _Followed] = {}
        self._positions: dict[str, dict[str, int]] = self._load_positions()
        self._lock = threading.Lock()
        self._files_lock = threading.Lock()  # one reader of the followed files at a time
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    # --- what the supervisor calls ----------------------------------------------------------
    def line(
        self, application_instance_id: str, node: str, stream: str, level: str, message: str
    ) -> None:
        """Queue one entry; thread-safe, never blocks (drops the oldest when full)."""
        entry = _entry(application_instance_id, node, stream, level, message)
        with self._lock:
            while len(self._buffer) >= self.keep:
                old = self._buffer.popleft()
                self._dropped[(old["application_instance_id"], old["node"], old["stream"])] += 1
            self._buffer.append(entry)
            full = len(self._buffer) >= self.batch
        if full and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: run() has ended
                self._loop.call_soon_threadsafe(self._wake.set)

    def console_output(
        self, application_instance_id: str, node: str, text: str, *, stderr: bool
    ) -> str:
        """One line a code node printed; queued with its level (returned), errors counted."""
        key = (application_instance_id, node, stderr)
        with self._lock:
            levels = self._consoles.setdefault(key, ConsoleLevels())
            if stderr:
                level, error = levels.level(text, "WARNING")
            else:
                level, error = "INFO", False
        if error:
            self.metrics.error(application_instance_id, node)
        self.line(application_instance_id, node, "console_output", level, text)
        return level

    def follow(self, application_instance_id: str, node: str, folder: Path) -> None:
        """Ship every file written under ``folder`` (recursively) as the ``code`` stream."""
        with self._lock:
            self._followed[(application_instance_id, folder)] = _Followed(
                application_instance_id, node, folder
            )

    def unfollow(self, application_instance_id: str) -> None:
        """Stop following the instance's files (what was read is shipped; the rest stays)."""
        with self._lock:
            for key in [k for k in self._followed if k[0] == application_instance_id]:
                del self._followed[key]
            for console in [k for k in self._consoles if k[0] == application_instance_id]:
                del self._consoles[console]
        # Read positions stay (following again goes on where this stopped), except those of
        # files that are gone, such as a removed instance's.
        with self._files_lock:
            for path in [p for p in self._positions if not os.path.exists(p)]:
                del self._positions[path]
            self._save_positions()

    # --- shipping -----------------------------------------------------------------------------
    def backed_up(self, backlog: Callable[[], int]) -> bool:
        try:
            return backlog() >= self.max_backlog
        except Exception:  # the outbox is closed (stopping): ship nothing more
            return True

    async def run(self, send: Send, backlog: Callable[[], int]) -> None:
        """Ship until cancelled: ``send(entries)`` queues one ``logs`` report; ``backlog()``
        says how many reports wait in the outbox."""
        self._loop = asyncio.get_running_loop()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval_s)
                self._wake.clear()
                await self.pump(send, backlog)
        finally:
            if not self.backed_up(backlog):
                self._ship_buffer(send)

    async def pump(self, send: Send, backlog: Callable[[], int]) -> None:
        """One round: the buffered lines, then the files (read in a thread), unless backed up."""
        if self.backed_up(backlog):
            await asyncio.to_thread(self._rotate_all)
            return
        if not self._ship_buffer(send):
            return
        batches = await asyncio.to_thread(self._read_files)
        for entries, commit in batches:
            if self.backed_up(backlog):
                break  # these stay unread on disk
            for start in range(0, len(entries), MAX_ENTRIES):
                if not _send(send, entries[start : start + MAX_ENTRIES]):
                    return
            commit()
        await asyncio.to_thread(self._rotate_all)

    def _ship_buffer(self, send: Send) -> bool:
        """Send the buffered entries and the drop warnings; False if sending failed."""
        while True:
            with self._lock:
                count = min(MAX_ENTRIES, len(self._buffer))
                entries = [self._buffer.popleft() for _ in range(count)]
                if count < MAX_ENTRIES:
                    entries.extend(self._warnings())
            if not entries:
                return True
            if not _send(send, entries):
                return False
            if count < MAX_ENTRIES:
                return True

    def _warnings(self) -> list[dict[str, Any]]:
        warnings = [
            _entry(iid, node, stream, "WARNING", f"{count} log lines were dropped: the "
                   "console could not take them as fast as the application wrote them.")
            for (iid, node, stream), count in self._dropped.items()
        ]  # fmt: skip
        self._dropped.clear()
        warnings.extend(self._lost)
        self._lost.clear()
        return warnings

    # --- files (in a worker thread) -----------------------------------------------------------
    def _read_files(self) -> list[tuple[list[dict[str, Any]], Callable[[], None]]]:
        """What the followed files hold beyond their read positions, within ``read_bytes``.

        Each batch comes with the commit that moves the positions past it, called once it is
        in the outbox; a batch that was not sent is read again next time.
        """
        budget = self.read_bytes
        batches = []
        with self._files_lock:
            for followed, tail in self._tails():
                if budget <= 0:
                    break
                entries, moved = self._read_tail(followed, tail, budget)
                budget -= moved.get("bytes", 0)
                if entries or moved:
                    batches.append((entries, self._committer(tail, moved)))
        return batches

    def _tails(self) -> list[tuple[_Followed, _Tail]]:
        with self._lock:
            followed = list(self._followed.values())
        found = []
        for each in followed:
            try:
                paths = sorted(p for p in each.folder.rglob("*") if p.is_file())
            except OSError:
                continue
            for path in [p for p in paths if not p.name.endswith(ROTATED)][: self.max_files]:
                tail = each.tails.get(path)
                if tail is None:
                    tail = each.tails[path] = self._new_tail(path)
                found.append((each, tail))
        return found

    def _new_tail(self, path: Path) -> _Tail:
        tail = _Tail(path)
        saved = self._positions.get(str(path))
        with contextlib.suppress(OSError):
            stat = path.stat()
            tail.inode = stat.st_ino
            if saved and saved.get("inode") == stat.st_ino and saved["offset"] <= stat.st_size:
                tail.offset = saved["offset"]  # shipped before the agent restarted
        return tail

    def _read_tail(
        self, followed: _Followed, tail: _Tail, budget: int
    ) -> tuple[list[dict[str, Any]], dict[str, int]]:
        moved: dict[str, int] = {}
        lines: list[str] = []
        try:
            if tail.old_offset is not None:
                old = tail.path.with_name(tail.path.name + ROTATED)
                chunk, used = _read_lines(old, tail.old_offset, tail.old_end, budget, final=True)
                lines.extend(chunk)
                moved["old_offset"] = tail.old_offset + used
                moved["bytes"] = used
                budget -= used
                if tail.old_offset + used < tail.old_end:
                    return self._entries(followed, tail, lines), moved
            stat = tail.path.stat()
            offset = tail.offset
            if stat.st_ino != tail.inode or stat.st_size < offset:
                offset = 0  # a new file, or truncated by the application: from its start
                moved["inode"] = stat.st_ino
                moved["offset"] = 0
            if stat.st_size > offset and budget > 0:
                stalled = (
                    tail.stalled_since is not None
                    and time.monotonic() - tail.stalled_since >= self.partial_flush_s
                )
                chunk, used = _read_lines(tail.path, offset, stat.st_size, budget, final=stalled)
                lines.extend(chunk)
                moved["offset"] = offset + used
                moved["bytes"] = moved.get("bytes", 0) + used
                # An unterminated last line is shipped once the file stops growing for a while.
                partial = offset + used < stat.st_size and used < budget
                moved["stalled"] = int(partial)
        except FileNotFoundError:
            return [], {}
        except OSError as exc:
            logger.debug("cannot read %s: %s", tail.path, exc)
            return [], {}
        return self._entries(followed, tail, lines), moved

    def _entries(self, followed: _Followed, tail: _Tail, lines: list[str]) -> list[dict[str, Any]]:
        entries = []
        for text in lines:
            level, _ = tail.levels.level(text, "INFO")
            entries.append(
                _entry(followed.application_instance_id, followed.node, "code", level, text)
            )
        return entries

    def _committer(self, tail: _Tail, moved: dict[str, int]) -> Callable[[], None]:
        def commit() -> None:
            with self._files_lock:
                if "old_offset" in moved:
                    tail.old_offset = moved["old_offset"]
                    if tail.old_offset >= tail.old_end:
                        tail.old_offset = None
                if "inode" in moved:
                    tail.inode = moved["inode"]
                if "offset" in moved:
                    tail.offset = moved["offset"]
                if moved.get("stalled"):
                    tail.stalled_since = tail.stalled_since or time.monotonic()
                else:
                    tail.stalled_since = None
                self._positions[str(tail.path)] = {"inode": tail.inode, "offset": tail.offset}
                self._save_positions()

        return commit

    def _rotate_all(self) -> None:
        with self._files_lock:
            for followed, tail in self._tails():
                self._rotate(followed, tail)

    def _rotate(self, followed: _Followed, tail: _Tail) -> None:
        try:
            stat = tail.path.stat()
            if stat.st_size < self.rotate_bytes:
                return
            rotated = tail.path.with_name(tail.path.name + ROTATED)
            if tail.old_offset is not None and tail.old_offset < tail.old_end:
                self._lost_bytes(followed, tail, tail.old_end - tail.old_offset)
            shutil.copyfile(tail.path, rotated)
            with open(tail.path, "r+b") as handle:
                handle.truncate(0)
        except OSError as exc:
            logger.debug("cannot rotate %s: %s", tail.path, exc)
            return
        same = stat.st_ino == tail.inode
        start = tail.offset if same and tail.offset <= stat.st_size else 0
        tail.old_offset, tail.old_end = (start, stat.st_size) if start < stat.st_size else (None, 0)
        tail.inode, tail.offset = stat.st_ino, 0
        self._positions[str(tail.path)] = {"inode": tail.inode, "offset": 0}
        self._save_positions()

    def _lost_bytes(self, followed: _Followed, tail: _Tail, count: int) -> None:
        message = (
            f"{count} bytes of {tail.path.name} were rotated away before they could be "
            "shipped; the console was not taking logs fast enough."
        )
        with self._lock:
            self._lost.append(
                _entry(followed.application_instance_id, followed.node, "code", "WARNING", message)
            )

    # --- read positions across agent restarts -----------------------------------------------
    def _load_positions(self) -> dict[str, dict[str, int]]:
        if self.state_file is None:
            return {}
        try:
            document = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return document if isinstance(document, dict) else {}

    def _save_positions(self) -> None:
        if self.state_file is None:
            return
        with contextlib.suppress(OSError):
            temporary = self.state_file.with_suffix(".tmp")
            temporary.write_text(json.dumps(self._positions))
            os.replace(temporary, self.state_file)


def _entry(
    application_instance_id: str, node: str, stream: str, level: str, message: str
) -> dict[str, Any]:
    return {
        "time": time.time(),
        "stream": stream,
        "level": level if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") else "INFO",
        "message": message[:MAX_MESSAGE],
        "application_instance_id": application_instance_id[:128],
        "node": node[:128],
    }


def _send(send: Send, entries: list[dict[str, Any]]) -> bool:
    if not entries:
        return True
    try:
        send(entries)
    except Exception as exc:  # the outbox is closed (stopping); the rest stays where it is
        logger.debug("app logs not shipped: %s", exc)
        return False
    return True


def _read_lines(
    path: Path, start: int, end: int, budget: int, *, final: bool
) -> tuple[list[str], int]:
    """Complete lines of ``path`` between ``start`` and ``end`` within ``budget`` bytes, and how
    many bytes they took. ``final``: an unterminated last line counts too. A line longer than
    the largest message is cut into pieces instead of waiting for its end."""
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(min(end - start, budget))
    cut = data.rfind(b"\n") + 1
    if final or (cut == 0 and len(data) >= MAX_MESSAGE):
        cut = len(data)
    text = data[:cut].replace(b"\0", b"").decode("utf-8", errors="replace")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    pieces = [
        line[i : i + MAX_MESSAGE]
        for line in lines
        for i in range(0, max(len(line), 1), MAX_MESSAGE)
    ]
    return pieces, cut
