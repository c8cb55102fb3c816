"""Issue #15: the launcher behind `./vantage up` stops everything within 10 s of SIGTERM or
Ctrl-C (SIGINT), leaves no process behind and loses no task (console/stopping.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.support.paths import ASYNC_UNSAFE, BASE_DIR
from tests.support.ports import free_port
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.stack]

# Container platforms kill 10 s after SIGTERM; the stop must be over with a margin to spare.
STOP_LIMIT_S = 10.0 - 1.0
REDIS_URL = os.environ.get("STOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


@dataclass
class Stack:
    process: subprocess.Popen
    log_path: Path
    var_dir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CONSOLE_URL", "LIVE_RELAY_URL", ASYNC_UNSAFE}
    }
    env.update(VANTAGE_VAR_DIR=str(var_dir), SECRET_KEY="s" * 64, **extra)
    return env


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory) -> Path:
    """One migrated var folder (SQLite) for the module: the launcher then runs --skip-setup."""
    folder = tmp_path_factory.mktemp("stop") / "var"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=BASE_DIR, env=_env(folder), check=True, timeout=300,
    )  # fmt: skip
    return folder


def _start(var_dir: Path, log_path: Path, **extra: str) -> Stack:
    """The launcher as `./vantage up` runs it (its own session, like a terminal), appliance on."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "console.launcher", "up", "--skip-setup",
             "--port", str(free_port())],
            cwd=BASE_DIR, env=_env(var_dir, **extra), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    stack = Stack(process, log_path, var_dir)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the launcher exited early:\n{stack.log()[-3000:]}")
        # The worker's pool is part of what must stop: wait until it is there too.
        names = _cmdlines(_tree(process.pid))
        return stack.log().count(" ready.") >= 1 and len(names) >= 6

    try:
        wait_for(up, timeout=180, message="the stack and the worker's pool to be up")
    except BaseException:
        # Never leave a half-started stack running past a failed test.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    return stack


def _tree(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _cmdlines(processes: list[psutil.Process]) -> list[str]:
    """The command lines of those still running: a child may end (and be a zombie until it is
    reaped) between listing the tree and reading it."""
    lines = []
    for p in processes:
        with contextlib.suppress(psutil.Error):
            lines.append(" ".join(p.cmdline()))
    return lines


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def _anything_of(var_dir: Path) -> list[psutil.Process]:
    """Every process on the machine started for this var folder: orphans re-parented to init
    are outside the launcher's tree, so the tree alone would miss them."""
    found = []
    marker = f"VANTAGE_VAR_DIR={var_dir}"
    for p in psutil.process_iter():
        try:
            environ = Path(f"/proc/{p.pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() in environ and _alive([p]):
            found.append(p)
    return found


def _stop(stack: Stack, sig: int) -> float:
    """Signal the launcher; return the seconds until it and its whole tree are gone."""
    before = _tree(stack.process.pid)
    names = " ".join(_cmdlines(before))
    assert "uvicorn" in names and "worker" in names and "beat" in names, names
    assert "edge_agent run" in names, "the local appliance was not started: " + names
    # The worker's main process plus its pool (--concurrency 2), web, beat and the appliance.
    assert len(before) >= 6, names
    started = time.monotonic()
    stack.process.send_signal(sig)
    try:
        stack.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(stack.process.pid, signal.SIGKILL)
        raise AssertionError(f"the launcher did not exit:\n{stack.log()[-3000:]}") from None
    elapsed = time.monotonic() - started
    assert stack.process.returncode == 0, stack.log()[-3000:]
    assert not _alive(before), f"left behind: {_alive(before)}"
    assert not _anything_of(stack.var_dir), f"left behind: {_anything_of(stack.var_dir)}"
    assert elapsed < STOP_LIMIT_S, f"stopping took {elapsed:.1f} s:\n{stack.log()[-3000:]}"
    return elapsed


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_stack_stops_within_10_s_and_leaves_nothing_behind(var_dir, tmp_path, sig):
    stack = _start(var_dir, tmp_path / "up.log")
    try:
        elapsed = _stop(stack, sig)
    finally:
        if stack.process.poll() is None:
            os.killpg(stack.process.pid, signal.SIGKILL)
    log = stack.log()
    # An idle stack stops by itself: nothing had to be killed.
    assert "did not stop in time" not in log and "killing leftover" not in log, log[-3000:]
    assert f"{signal.Signals(sig).name}: stopping" in log
    print(f"{signal.Signals(sig).name}: stopped in {elapsed:.1f} s")


def _send_hold(env: dict[str, str], folder: Path, name: str, seconds: float) -> None:
    """Queue tests.support.stop_tasks.hold on the stack's broker, as the console would."""
    from celery import Celery

    import console.celery  # noqa: F401  (registers the vantagefs:// transport)

    broker_dir = Path(env["VANTAGE_VAR_DIR"]) / "broker"
    if env.get("REDIS_URL"):
        app = Celery("stop-test", broker=env["REDIS_URL"])
    else:
        app = Celery("stop-test", broker="vantagefs://")
        app.conf.broker_transport_options = {
            "data_folder_in": str(broker_dir / "queue"),
            "data_folder_out": str(broker_dir / "queue"),
            "processed_folder": str(broker_dir / "processed"),
            "control_folder": str(broker_dir / "control"),
        }
    try:
        app.send_task(
            "tests.support.stop_tasks.hold",
            args=[str(folder), name, seconds],
            queue=env.get("CELERY_QUEUE", "vantage"),
        )
    finally:
        app.close()


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("broker", ["filesystem", "redis"])
def test_a_running_task_finishes_or_runs_again_after_the_restart(var_dir, tmp_path, broker):
    extra = {"CELERY_WORKER_INCLUDE": "tests.support.stop_tasks"}
    if broker == "redis":
        run_id = tmp_path.name[-12:]
        extra.update(
            REDIS_URL=REDIS_URL,
            CELERY_QUEUE=f"vantage-stop-{run_id}",
            CHANNEL_LAYER_PREFIX=f"vantage-stop-{run_id}",
        )
    env = _env(var_dir, **extra)
    marks = tmp_path / "marks"
    marks.mkdir()
    stack = _start(var_dir, tmp_path / "up.log", **extra)
    try:
        # A short task finishes within the warm shutdown; a long one cannot and is cancelled.
        _send_hold(env, marks, "short", 2.0)
        _send_hold(env, marks, "long", 600.0)
        wait_for(lambda: _lines(marks / "short.started") and _lines(marks / "long.started"),
                 timeout=60, message="both tasks to start")  # fmt: skip
        elapsed = _stop(stack, signal.SIGTERM)
        print(f"{broker}: stopped with two running tasks in {elapsed:.1f} s")
        assert (marks / "short.done").exists(), "the short task was cut off:\n" + stack.log()
        assert not (marks / "long.done").exists()
        assert "cancelling its running tasks" in stack.log()

        # After a restart the long task runs again (its message went back to the queue) and
        # the short one does not (it was acknowledged when it finished).
        stack = _start(var_dir, tmp_path / "up.log", **extra)
        wait_for(lambda: _lines(marks / "long.started") == 2, timeout=60,
                 message="the long task to be delivered again")  # fmt: skip
        (marks / "long.release").touch()
        wait_for(lambda: (marks / "long.done").exists(), timeout=30, message="it to finish")
        assert _lines(marks / "short.started") == 1
        _stop(stack, signal.SIGINT)
    finally:
        if stack.process.poll() is None:
            os.killpg(stack.process.pid, signal.SIGKILL)
