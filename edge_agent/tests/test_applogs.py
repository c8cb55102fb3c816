"""Application logs and metrics on the agent: AppLogs (batching, drops, backpressure through
the real on-disk Outbox, file tails and their rotation), ConsoleLevels, AppMetrics, and the
heartbeat's ``applications`` block."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from devicelink.appmetrics import MAX_INSTANCES
from devicelink.messages import Heartbeat, LogsBody, decode_agent_message, encode
from edge_agent.apps.applogs import AppLogs, ConsoleLevels
from edge_agent.apps.metrics import AppMetrics
from edge_agent.outbox import Outbox
from tests.support.waiting import eventually

IID = "applicationInstance-abc"


class Shipped:
    """The ``send`` of the agent: each batch becomes a ``logs`` report in a real Outbox."""

    def __init__(self, tmp_path: Path) -> None:
        self.outbox = Outbox(tmp_path / "outbox.sqlite3", "device-1")
        self.sent: list[dict] = []  # everything, acknowledged or not

    def send(self, entries: list[dict]) -> None:
        LogsBody.model_validate({"entries": entries})  # what the link's queue_report checks
        self.outbox.append("logs", {"entries": entries})
        self.sent.extend(entries)

    def away(self, reports: int = 2) -> None:
        """The console does not acknowledge: reports pile up in the outbox."""
        for _ in range(reports):
            self.outbox.append("network", {})

    def backlog(self) -> int:
        return self.outbox.count()

    def entries(self) -> list[dict]:
        return list(self.sent)

    def messages(self) -> list[str]:
        return [entry["message"] for entry in self.entries()]

    def ack_all(self) -> None:
        self.outbox.drop_through(self.outbox.last_seq())


def pump(logs: AppLogs, shipped: Shipped, rounds: int = 1) -> None:
    async def main():
        for _ in range(rounds):
            await logs.pump(shipped.send, shipped.backlog)

    asyncio.run(main())


def write(path: Path, *lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)


def test_lines_are_batched_into_reports_with_instance_and_node(tmp_path):
    shipped = Shipped(tmp_path)
    logs = AppLogs(batch=50, interval_s=0.5)

    async def main():
        task = asyncio.create_task(logs.run(shipped.send, shipped.backlog))
        await asyncio.sleep(0)
        for n in range(1200):  # from another thread, as the supervisor's readers may
            await asyncio.to_thread(logs.line, IID, "code_node", "console_output", "INFO", f"l{n}")
        await eventually(lambda: len(shipped.entries()) == 1200)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    reports = shipped.outbox.pending()
    assert all(len(r.body["entries"]) <= 500 for r in reports)
    assert len(reports) < 1200 / 10, "lines are batched, not one report each"
    assert shipped.messages() == [f"l{n}" for n in range(1200)]
    first = shipped.entries()[0]
    assert first["application_instance_id"] == IID and first["node"] == "code_node"
    assert first["stream"] == "console_output" and first["level"] == "INFO"


def test_an_overflowing_buffer_drops_the_oldest_and_says_how_many(tmp_path):
    shipped = Shipped(tmp_path)
    logs = AppLogs(keep=10)
    for n in range(25):
        logs.line(IID, "cam", "stream", "INFO", f"frame {n}")
    logs.line(IID, "model", "model", "ERROR", "x" * 10_000)  # cut to the largest message
    pump(logs, shipped)
    messages = shipped.messages()
    assert messages[:9] == [f"frame {n}" for n in range(16, 25)]
    assert len(messages[9]) == 8192
    warnings = [e for e in shipped.entries() if e["level"] == "WARNING"]
    assert len(warnings) == 1
    assert warnings[0]["message"].startswith("16 log lines were dropped")
    assert (warnings[0]["node"], warnings[0]["stream"]) == ("cam", "stream")
    pump(logs, shipped)
    assert len(shipped.entries()) == 11, "the warning is sent once"


def test_a_backed_up_outbox_stops_reading_files_and_nothing_is_lost(tmp_path):
    shipped = Shipped(tmp_path)
    shipped.away(5)
    folder = tmp_path / "apps" / IID / "logs" / "code"
    logs = AppLogs(max_backlog=5, keep=100)
    logs.follow(IID, "code_node", folder)
    write(folder / "app.log", *(f"2026-01-01 INFO line {n}" for n in range(300)))
    write(folder / "sub" / "other.log", "ERROR in a subfolder")
    for n in range(150):
        logs.line(IID, "code_node", "console_output", "INFO", f"out {n}")
    pump(logs, shipped, rounds=5)
    assert shipped.entries() == [], "nothing is read or shipped while the outbox is backed up"

    shipped.ack_all()  # the console is back and stored everything
    pump(logs, shipped, rounds=3)
    messages = shipped.messages()
    assert [m for m in messages if m.startswith("out")] == [f"out {n}" for n in range(50, 150)]
    assert "50 log lines were dropped" in " ".join(messages)
    assert [m for m in messages if m.startswith("2026")] == [
        f"2026-01-01 INFO line {n}" for n in range(300)
    ]
    code = [e for e in shipped.entries() if e["stream"] == "code"]
    assert {e["node"] for e in code} == {"code_node"}
    assert [e["level"] for e in code if "subfolder" in e["message"]] == ["ERROR"]

    write(folder / "app.log", "later")
    pump(logs, shipped)
    assert shipped.messages()[-1] == "later", "reading goes on where it stopped"
    assert shipped.messages().count("2026-01-01 INFO line 0") == 1


def test_reading_goes_on_where_it_stopped_after_an_agent_restart(tmp_path):
    shipped = Shipped(tmp_path)
    folder, state = tmp_path / "code", tmp_path / "positions.json"
    write(folder / "app.log", "one", "two")
    first = AppLogs(state_file=state)
    first.follow(IID, "n", folder)
    pump(first, shipped)
    write(folder / "app.log", "three")
    second = AppLogs(state_file=state)
    second.follow(IID, "n", folder)
    pump(second, shipped)
    assert shipped.messages() == ["one", "two", "three"]


def test_an_unterminated_last_line_waits_until_the_file_stops_growing(tmp_path):
    shipped = Shipped(tmp_path)
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "app.log").write_text("done\nhalf")
    logs = AppLogs(partial_flush_s=0.05)
    logs.follow(IID, "n", folder)
    pump(logs, shipped)
    assert shipped.messages() == ["done"]

    async def main():
        async def keep_pumping():
            while True:
                await logs.pump(shipped.send, shipped.backlog)
                await asyncio.sleep(0.01)

        task = asyncio.create_task(keep_pumping())
        await eventually(lambda: shipped.messages()[-1] == "half", timeout=5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert shipped.messages() == ["done", "half"]


def test_files_rotate_at_the_limit_and_the_unread_rest_is_read_from_the_copy(tmp_path):
    shipped = Shipped(tmp_path)
    folder = tmp_path / "code"
    log = folder / "app.log"
    logs = AppLogs(rotate_bytes=2000, max_backlog=2)
    logs.follow(IID, "n", folder)
    write(log, *(f"a{n:04d}" + "." * 94 for n in range(30)))  # 3,000 bytes, all read
    pump(logs, shipped)
    assert len(shipped.messages()) == 30
    assert log.stat().st_size == 0 and (folder / "app.log.1").stat().st_size == 3000

    shipped.away()  # backed up: the next lines stay unread...
    write(log, *(f"b{n:04d}" + "." * 94 for n in range(25)))
    pump(logs, shipped)
    assert log.stat().st_size == 0, "...and still rotate at the limit"
    shipped.ack_all()
    pump(logs, shipped, rounds=2)
    write(log, "c")
    pump(logs, shipped)
    messages = [m[:5] for m in shipped.messages()]
    expected = [f"a{n:04d}" for n in range(30)] + [f"b{n:04d}" for n in range(25)] + ["c"]
    assert messages == expected, "nothing lost, nothing twice, in order"


def test_a_second_rotation_over_an_unread_copy_says_what_was_lost(tmp_path):
    shipped = Shipped(tmp_path)
    shipped.away()
    folder = tmp_path / "code"
    logs = AppLogs(rotate_bytes=1000, max_backlog=2)
    logs.follow(IID, "n", folder)
    write(folder / "app.log", *("x" * 99 for _ in range(12)))
    pump(logs, shipped)
    write(folder / "app.log", *("y" * 99 for _ in range(12)))
    pump(logs, shipped)
    shipped.ack_all()
    pump(logs, shipped)
    warnings = [e["message"] for e in shipped.entries() if e["level"] == "WARNING"]
    assert warnings and warnings[0].startswith("1200 bytes of app.log were rotated away")
    assert shipped.messages().count("y" * 99) == 12 and "x" * 99 not in shipped.messages()


def test_console_output_levels_and_the_error_counter():
    logs = AppLogs()
    out = [
        ("hello", False),
        ("plain stderr", True),
        ("INFO logging writes to stderr", True),
        ("Traceback (most recent call last):", True),
        ('  File "app.py", line 3, in <module>', True),
        ("ValueError: boom", True),
        ("after the traceback", True),
        ("2026-01-01 12:00:00 ERROR lost the camera", True),
        ("ERROR on stdout is still output", False),
    ]
    levels = [logs.console_output(IID, "code_node", text, stderr=err) for text, err in out]
    assert levels == ["INFO", "WARNING", "INFO", "ERROR", "ERROR", "ERROR", "WARNING", "ERROR",
                      "INFO"]  # fmt: skip
    assert logs.metrics.snapshot() == {IID: {"code_node": {"errors": 2}}}
    chained = ConsoleLevels()
    texts = ["Traceback (most recent call last):", "  x", "KeyError: 1", "",
             "During handling of the above exception, another exception occurred:", "",
             "Traceback (most recent call last):", "  y", "OSError: 2", "ok"]  # fmt: skip
    assert [chained.level(t, "WARNING")[0] for t in texts][-1] == "WARNING"
    assert {chained.level(t, "WARNING")[0] for t in texts[:-1]} == {"ERROR"}


def test_metrics_are_totals_across_restarts():
    metrics = AppMetrics()
    metrics.add(IID, "cam", {"frames": 100, "dropped": 2, "reconnects": 0, "fps": 10.0})
    metrics.add(IID, "cam", {"frames": 300, "dropped": 5, "reconnects": 1, "fps": 20.0})
    metrics.add(IID, "cam", {"frames": 50, "dropped": 1, "reconnects": 0, "fps": 5.0})  # restarted
    metrics.add(IID, "model", {"calls": 10, "inference_ms_p50": 4.5, "providers": ["CPU"]})
    metrics.restarted(IID, "model")
    metrics.add(IID, "model", {"calls": 20})  # more than before: only restarted() knows
    metrics.error(IID, "code_node")
    snapshot = metrics.snapshot()
    assert snapshot[IID]["cam"] == {"frames": 350, "dropped": 6, "reconnects": 1, "fps": 5.0}
    assert snapshot[IID]["model"] == {"calls": 30}
    assert snapshot[IID]["code_node"] == {"errors": 1}
    metrics.drop(IID)
    assert metrics.snapshot() == {}


def test_the_heartbeat_carries_bounded_metrics():
    applications = {f"app-{n}": {"cam": {"fps": 1.0}} for n in range(MAX_INSTANCES + 5)}
    applications["app-0"]["cam"].update(
        bad=math.nan, huge=10**30, providers=["CUDA", 3, "CPU"], text="no", flag=True
    )
    heartbeat = Heartbeat(id=1, time=0.0, applications=applications)
    decoded = decode_agent_message(encode(heartbeat))
    assert len(decoded.applications) == MAX_INSTANCES
    assert decoded.applications["app-0"]["cam"] == {
        "fps": 1.0, "providers": ["CUDA", "CPU"], "flag": 1,
    }  # fmt: skip
    raw = '{"type": "heartbeat", "id": 1, "time": 0, "applications": {"a": [1, 2]}}'
    assert decode_agent_message(raw).applications == {}, "never refused for its metrics"


def test_an_exit_counts_as_an_error_unless_the_crash_already_said_why():
    from edge_agent.apps.metrics import AppMetrics

    metrics = AppMetrics()
    metrics.exit_error(IID, "code_node")  # ended without a word
    metrics.error(IID, "code_node")  # a traceback on its way out...
    metrics.exit_error(IID, "code_node")  # ...is that same crash: not counted twice
    metrics.exit_error(IID, "code_node")
    assert metrics.snapshot() == {IID: {"code_node": {"errors": 3}}}
