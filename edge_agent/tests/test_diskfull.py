"""Fault drills: the disk fills up under the agent (a small tmpfs the test mounts, as root).

Each drill measures how long the agent takes to recover once space is freed, and prints it
(``pytest -s`` shows it)."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from edge_agent.apps import assets
from edge_agent.apps.assets import AssetCache
from edge_agent.apps.process import ConsoleLog, RestartPolicy
from edge_agent.apps.runtime_node import RuntimeNode
from edge_agent.outbox import Outbox
from edge_agent.reports import ReportQueue
from tests.support.agents import (
    IID,
    Reports,
    code_node,
    container,
    make_spec,
    make_supervisor,
    run,
)
from tests.support.diskfull import fill, small_disk
from tests.support.waiting import eventually

# Prints a numbered line every 2 ms, as a busy application does, and says in its storage
# (another disk) how far it got: if the agent stops draining its output, print() blocks
# once the pipe is full and the count stops.
CHATTY = r"""
import os, time
progress = os.path.join(os.environ["PANORAMA_STORAGE_DIR"], "progress")
n = 0
while True:
    n += 1
    print(f"frame {n} " + "x" * 100, flush=True)
    if n % 50 == 0:
        with open(progress + ".tmp", "w") as handle:
            handle.write(str(n))
        os.replace(progress + ".tmp", progress)
    time.sleep(0.002)
"""


def _progress(storage: Path) -> int:
    try:
        return int((storage / "progress").read_text() or 0)
    except (OSError, ValueError):
        return 0


def test_console_log_drops_and_counts_lines_it_cannot_write_then_resumes(tmp_path, caplog):
    with small_disk(tmp_path / "disk", "1m") as disk:
        log = ConsoleLog(disk / "console_output.log", warn_every_s=3600)
        log.write(b"before\n")
        filler = fill(disk)
        with caplog.at_level(logging.WARNING, "edge_agent.apps.process"):
            for n in range(5000):  # more than the last page of the file can take
                log.write(b"lost %d %s\n" % (n, b"y" * 100))
            assert log.dropped > 4000
            warnings = [r.getMessage() for r in caplog.records]
            assert len(warnings) == 1  # rate-limited: one warning, not one per line
            assert "could not be written" in warnings[0] and "No space left" in warnings[0]
            filler.unlink()
            log.write(b"after\n")
        text = (disk / "console_output.log").read_bytes()
        assert text.startswith(b"before\n") and text.endswith(b"after\n")
        resumed = caplog.records[-1].getMessage()
        assert resumed.startswith(f"{log.dropped - 1} line(s) of application output were dropped")
        log.close()


def test_an_app_keeps_running_while_its_output_cannot_be_written(tmp_path, server):
    """Drill (b) at the agent: the disk with the app's logs fills while it runs."""
    asset = server.add(container(CHATTY))
    reports = Reports()
    storage = tmp_path / "apps" / IID / "storage"
    figures: dict[str, float] = {}

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([make_spec(1, [code_node(asset)])])
            await supervisor.settle(30)
            logs = tmp_path / "apps" / IID / "logs"
            await eventually(lambda: _progress(storage) > 100, 20, "the app's first lines")
            log = supervisor.instances[IID]._log
            assert log is not None
            with small_disk(logs / "full", "1m"):
                # The console log moves onto the small disk (as rotation would reopen it).
                log.path = logs / "full" / "console_output.log"
                log.close()
                filler = fill(logs / "full")
                await eventually(lambda: log.dropped > 200, 20, "lines being dropped")
                before = _progress(storage)
                # Far more than a pipe holds (64 KiB, ~600 lines): the output keeps draining.
                await eventually(lambda: _progress(storage) > before + 1500, 30, "app progress")
                assert reports.last()["status"] == "RUNNING"
                dropped = log.dropped
                filler.unlink()
                freed = time.monotonic()
                size = log.path.stat().st_size
                await eventually(lambda: log.path.stat().st_size > size + 10000, 20, "writing")
                figures["recovery_s"] = time.monotonic() - freed
                figures["dropped"] = dropped
                log.close()
        finally:
            await supervisor.close()

    run(main)
    print(
        f"\napp output on a full disk: {figures['dropped']:.0f} lines dropped and counted, "
        f"writing resumed {figures['recovery_s'] * 1000:.0f} ms after space was freed"
    )


def test_reports_the_outbox_cannot_store_are_held_in_order_and_stored_later(tmp_path, caplog):
    """The link's outbox (SQLite) on a disk that fills: no report is lost, queueing never
    waits on the disk, and what was held goes out in order once space is freed."""
    with small_disk(tmp_path / "disk", "2m") as disk:
        outbox = Outbox(disk / "outbox.sqlite3", "device-test")
        reports = ReportQueue(outbox, max_held=50)
        reports.queue_report("software", {"version": "1.0.0"})
        filler = fill(disk)
        slowest = 0.0
        queued = [{"entries": [_log_entry(f"line {n} " + "z" * 1000)]} for n in range(40)]
        with caplog.at_level(logging.WARNING, "edge_agent.reports"):
            for body in queued:
                started = time.monotonic()
                reports.queue_report("logs", body)
                slowest = max(slowest, time.monotonic() - started)
        assert reports.held > 0 and reports.count() == outbox.count() + reports.held
        assert reports.held + outbox.count() == 41
        refusals = [r.getMessage() for r in caplog.records]
        assert len(refusals) == 1 and "database or disk is full" in refusals[0]
        # Past max_held the oldest status report of a subject gives way to the newest.
        for generation in range(60):
            reports.queue_report("applications", _app_report(generation))
        assert reports.held == 50 and reports.dropped == 1 + 40 + 60 - 50 - outbox.count()
        filler.unlink()
        freed = time.monotonic()
        assert reports.store_held()
        recovery = time.monotonic() - freed
        stored = outbox.pending()
        kinds = [entry.kind for entry in stored]
        assert kinds[0] == "software" and kinds.count("logs") == 40  # no log batch was dropped
        generations = [e.body["generation"] for e in stored if e.kind == "applications"]
        assert generations == sorted(generations) and generations[-1] == 59  # the newest kept
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
        outbox.close()
    print(
        f"\noutbox on a full disk: slowest queue_report {slowest * 1000:.1f} ms; held reports "
        f"stored {recovery * 1000:.0f} ms after space was freed"
    )
    assert slowest < 0.5  # a heartbeat (every 10 s) never waits for the disk


def _log_entry(message: str) -> dict[str, Any]:
    return {"time": time.time(), "stream": "agent", "level": "INFO", "message": message}


def _app_report(generation: int) -> dict[str, Any]:
    return {"application_instance_id": IID, "generation": generation, "status": "RUNNING"}


def _big_container() -> bytes:
    # Random bytes in base64 compress little: the asset is about 2.2 MiB.
    noise = base64.b64encode(os.urandom(2_300_000)).decode()
    return container(f"NOISE = {noise!r}\n" + CHATTY)


def test_a_download_the_disk_cannot_take_is_an_install_error_with_the_figures(tmp_path, server):
    """Drill (a) at the agent: the asset cache's disk has less room than the asset needs."""
    asset = server.add(_big_container())
    reports = Reports()

    async def main() -> None:
        with small_disk(tmp_path / "apps" / "assets", "8m") as disk:
            filler = fill(disk)
            with open(filler, "r+b") as handle:  # leave 1 MiB free
                handle.truncate(filler.stat().st_size - 1024**2)
            supervisor = make_supervisor(tmp_path, server, reports)
            try:
                started = time.monotonic()
                await supervisor.apply([make_spec(1, [code_node(asset)])])
                await supervisor.settle(30)
                figures["failed_s"] = time.monotonic() - started
            finally:
                await supervisor.close()

    figures: dict[str, float] = {}
    run(main)
    assert reports.statuses() == ["INSTALL_IN_PROGRESS", "INSTALL_ERROR"]
    message = reports.last()["message"]
    assert re.fullmatch(
        r"code_node: No space left on device while downloading code_asset: needs 2\.\d MiB, "
        r"1\.\d MiB free",
        message,
    ), message
    assert not server.gets(asset["path"])  # refused before a byte was downloaded
    print(f"\ndownload on a full disk: INSTALL_ERROR after {figures['failed_s'] * 1000:.0f} ms")


def test_a_disk_that_fills_during_a_download_fails_it_at_once_and_frees_the_part(
    tmp_path, server, monkeypatch
):
    asset = server.add(_big_container())
    with small_disk(tmp_path / "assets", "2m") as disk:
        # The disk says it has room (as when another writer fills it meanwhile); the writes
        # then fail for real.
        monkeypatch.setattr(assets, "free_bytes", lambda folder: 1024**3)
        cache = AssetCache(disk, server.url, lambda path: "signed", None, retry_s=0.01)
        with pytest.raises(assets.AssetError) as failure:
            cache.fetch(asset["sha256"], asset["size"], asset["path"], "code_asset")
        monkeypatch.undo()
        assert str(failure.value).startswith(
            "No space left on device while downloading code_asset: needs 2.2 MiB"
        )
        assert len(server.gets(asset["path"])) == 1  # not retried: retrying cannot help
        assert not list(disk.iterdir())  # the part is gone: the disk has its room back


def test_held_reports_go_out_from_memory_and_keep_their_numbers(tmp_path):
    """While the disk is full the link sends held reports like stored ones: the console gets an
    install error at once, and what it acknowledged is never stored again."""
    with small_disk(tmp_path / "disk", "2m") as disk:
        outbox = Outbox(disk / "outbox.sqlite3", "device-test")
        reports = ReportQueue(outbox)
        assert reports.queue_report("software", {"version": "1.0.0"}) == 1
        filler = fill(disk)
        for _ in range(100):  # until the outbox's last free page is used up too
            if reports.held:
                break
            reports.queue_report("logs", {"entries": [_log_entry("x" * 1000)]})
        first_held = reports._held[0].seq
        failed = _app_report(1) | {"status": "INSTALL_ERROR", "message": "No space left"}
        seq = reports.queue_report("applications", failed)
        pending = reports.pending(after=first_held - 1)
        assert [e.seq for e in pending] == list(range(first_held, seq + 1))
        assert pending[-1].body["status"] == "INSTALL_ERROR"
        for entry in pending:  # the console stores them and acknowledges
            reports.acknowledged(entry.seq)
        assert reports.held == 0
        filler.unlink()
        later = reports.queue_report("applied", {"version": 3})
        assert later == seq + 1  # numbers go on after those the console has
        assert [e.seq for e in outbox.pending(after=first_held - 1)] == [later]
        outbox.close()


def test_a_reconnect_renumbers_held_reports_after_what_the_console_has(tmp_path):
    with small_disk(tmp_path / "disk", "2m") as disk:
        outbox = Outbox(disk / "outbox.sqlite3", "device-test")
        reports = ReportQueue(outbox)
        reports.queue_report("software", {"version": "1.0.0"})
        filler = fill(disk)
        while not reports.held:
            reports.queue_report("logs", {"entries": [_log_entry("y" * 1000)]})
        stored = outbox.last_seq()
        reports.queue_report("applied", {"version": 2})
        # The console's database was restored: it knows report 1 only.
        reports.resync(1)
        numbers = [e.seq for e in reports.pending(after=1)]
        assert numbers == list(range(2, 2 + len(numbers)))  # no gap for the console
        assert reports.pending(after=1)[-1].kind == "applied"
        filler.unlink()
        assert reports.store_held()
        assert [e.seq for e in outbox.pending(after=1)] == numbers
        assert stored >= 1
        outbox.close()


def test_a_runtime_node_reader_outlives_a_callback_that_fails(tmp_path):
    """A runtime node's stdout reader must keep draining whatever its callbacks do (a report
    that could not be queued, say): a dead reader fills the pipe and freezes the node."""
    seen: list[float] = []

    def metrics(node: str, values: dict[str, Any]) -> None:
        seen.append(values["frames"])
        if len(seen) == 1:
            raise OSError(28, "No space left on device")

    node = RuntimeNode(
        "cam", "camera", tmp_path / "config.json", on_status=lambda *a: None,
        on_log=lambda *a: None, on_metrics=metrics, on_restart=lambda name: None,
        policy=RestartPolicy(),
    )  # fmt: skip

    async def main() -> None:
        stream = asyncio.StreamReader()
        for frames in (1, 2, 3):
            stream.feed_data(b'@vantage {"metrics": {"frames": %d}}\n' % frames)
        stream.feed_eof()
        await node._events(stream)

    asyncio.run(main())
    assert seen == [1, 2, 3]
