"""The on-disk outbox: numbering, order, acknowledgement, resync, and surviving kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from edge_agent.outbox import Outbox, count_pending
from tests.support.waiting import wait_for

DEVICE = "device-aaaaaaaaaaaaaaaaaaaaaaaaaa"


def test_sequence_numbers_and_order_survive_reopening(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path, DEVICE) as outbox:
        assert [outbox.append("applied", {"version": n}) for n in range(1, 6)] == [1, 2, 3, 4, 5]
        outbox.ack(2)
        outbox.drop_through(1)
    with Outbox(path, DEVICE) as outbox:
        assert [(e.seq, e.body["version"]) for e in outbox.pending()] == [(3, 3), (4, 4), (5, 5)]
        assert [e.seq for e in outbox.pending(after=3)] == [4, 5]
        assert [e.seq for e in outbox.pending(limit=1)] == [3]
        # Numbers keep growing after reopening, even when everything was acknowledged.
        outbox.drop_through(5)
        assert outbox.count() == 0 and outbox.last_seq() == 5
        assert outbox.append("software", {"version": "1.0.0"}) == 6
    assert count_pending(path) == 1
    assert count_pending(tmp_path / "missing.sqlite3") is None


def test_devices_sharing_a_file_have_their_own_numbers(tmp_path):
    path = tmp_path / "shared.sqlite3"
    with Outbox(path, "device-a") as a, Outbox(path, "device-b", durable=False) as b:
        assert [a.append("applied", {}), b.append("applied", {}), a.append("applied", {})] == [
            1, 1, 2
        ]  # fmt: skip
        b.ack(1)
        assert (a.count(), b.count()) == (2, 0)


def test_resync_drops_what_the_console_stored(tmp_path):
    with Outbox(tmp_path / "o.sqlite3", DEVICE) as outbox:
        for n in range(1, 6):
            outbox.append("applied", {"version": n})
        outbox.resync(3)
        assert [e.seq for e in outbox.pending()] == [4, 5]
        assert outbox.append("applied", {"version": 6}) == 6


def test_resync_renumbers_after_a_lost_outbox(tmp_path):
    """The console stored 41 reports but this outbox starts at 1: renumber, keep order."""
    with Outbox(tmp_path / "o.sqlite3", DEVICE) as outbox:
        outbox.append("applied", {"version": 1})
        outbox.append("applied", {"version": 2})
        outbox.resync(41)
        assert [(e.seq, e.body["version"]) for e in outbox.pending()] == [(42, 1), (43, 2)]
        assert outbox.append("applied", {"version": 3}) == 44


def test_resync_closes_a_gap_after_the_console_went_back(tmp_path):
    """The console's database was restored to an older state: no gap may be sent."""
    with Outbox(tmp_path / "o.sqlite3", DEVICE) as outbox:
        for n in range(1, 21):
            outbox.append("applied", {"version": n})
        outbox.drop_through(14)
        outbox.resync(10)
        assert [e.seq for e in outbox.pending()] == [11, 12, 13, 14, 15, 16]
        assert [e.body["version"] for e in outbox.pending()] == [15, 16, 17, 18, 19, 20]
        assert outbox.append("applied", {}) == 17


def test_committed_reports_survive_kill_9(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    marker = tmp_path / "written"
    script = textwrap.dedent(
        f"""
        import pathlib, time
        from edge_agent.outbox import Outbox
        outbox = Outbox({str(path)!r}, {DEVICE!r})
        for n in range(1, 51):
            outbox.append("applied", {{"version": n}})
        pathlib.Path({str(marker)!r}).write_text("done")
        while True:
            outbox.append("logs", {{"entries": []}})
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script])
    try:
        wait_for(marker.exists)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with Outbox(path, DEVICE) as outbox:
        pending = outbox.pending()
        assert [e.body["version"] for e in pending[:50]] == list(range(1, 51))
        seqs = [e.seq for e in pending]
        assert seqs == list(range(1, len(seqs) + 1))  # no hole, no torn entry
        assert outbox.append("applied", {}) == len(seqs) + 1
