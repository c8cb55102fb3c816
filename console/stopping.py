"""How the launcher stops its children: in order, within a deadline, leaving nothing behind.

Container platforms kill a container 10 s after SIGTERM, so everything is over by the stop
timeout (8 s by default). The order matters more than the signals:

1. SIGTERM to the main process of the worker, beat and the local appliance, never to their
   process groups. A SIGTERM to the worker's group killed its pool processes mid-task, and
   Celery acknowledges a task whose process died, so the task was lost. The worker's main
   process does a warm shutdown instead: it takes no new task and waits for the running ones.
   The agent stops its applications itself and sends its outbox to the console.
2. The web server stays up until the appliance has stopped (or half the timeout has passed):
   the agent's last reports, such as its applications stopping, need the console to arrive.
3. A task still running ``COLD_SHUTDOWN_RESERVE_S`` before the deadline is cancelled with
   SIGQUIT (Celery's cold shutdown): its message goes back to the queue (acks_late), so a worker
   runs it again after the restart.
4. At the deadline, SIGKILL to every group and every process that ever was below the launcher
   (it is their subreaper), including applications the agent started in their own sessions.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import signal
import time
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from console.launcher import Child

# uvicorn's --timeout-graceful-shutdown: open streams (View output) never end by themselves.
WEB_GRACE_S = 2
# What a cold shutdown of the worker needs (cancel the task, put its message back, close the
# broker connection, exit): 1.8 s until the message was back, 2.8 s until exit, measured on a
# loaded 2-core machine; at the deadline a worker killed before that would lose it (filesystem).
COLD_SHUTDOWN_RESERVE_S = 3.5
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphaned descendants are re-parented to this process instead of init (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1)


def reap_orphans(own: set[int]) -> None:
    """Collect exited orphans that were re-parented to us; Popen reaps our own children."""
    with contextlib.suppress(psutil.Error):
        for process in psutil.Process().children():
            if process.pid in own:
                continue
            with contextlib.suppress(ChildProcessError, psutil.Error):
                if process.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(process.pid, os.WNOHANG)


def descendants() -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return psutil.Process().children(recursive=True)
    return []


def _wait_any(kids: list[Child], until: float) -> None:
    """Wait until one of ``kids`` exits or ``until`` (monotonic) comes, without polling."""
    timeout = max(0.0, until - time.monotonic())
    fds = []
    try:
        with selectors.DefaultSelector() as selector:
            for kid in kids:
                with contextlib.suppress(OSError, AttributeError):
                    fd = os.pidfd_open(kid.process.pid)
                    fds.append(fd)
                    selector.register(fd, selectors.EVENT_READ)
            if fds:
                selector.select(timeout)
            else:  # no pidfds (old kernel): check again soon
                time.sleep(min(timeout, 0.1))
    finally:
        for fd in fds:
            os.close(fd)


def stop_children(kids: list[Child], timeout: float) -> None:
    started = time.monotonic()
    deadline = started + timeout
    by_name = {kid.name: kid for kid in kids}
    web, worker, appliance = by_name.get("web"), by_name.get("worker"), by_name.get("appliance")
    seen = {p.pid: p for p in descendants()}  # to find leftovers even if re-parented
    for kid in kids:
        if kid is not web:
            kid.signal(signal.SIGTERM)
    web_at = started + timeout / 2
    cold_at = deadline - COLD_SHUTDOWN_RESERVE_S
    web_stopping = cold_sent = False
    while True:
        running = [kid for kid in kids if kid.running()]
        now = time.monotonic()
        if not running or now >= deadline:
            break
        appliance_done = appliance is None or not appliance.running()
        if web is not None and not web_stopping and (appliance_done or now >= web_at):
            web.signal(signal.SIGTERM)
            web_stopping = True
        if worker is not None and worker.running() and not cold_sent and now >= cold_at:
            print(
                "[vantage] the worker is still busy; cancelling its running tasks (they go back "
                "to the queue).",
                flush=True,
            )
            worker.signal(signal.SIGQUIT)
            cold_sent = True
        for p in descendants():
            seen.setdefault(p.pid, p)
        events = [t for t in (web_at, cold_at, deadline) if t > now]
        _wait_any(running, min(events))
    for kid in kids:
        if kid.running():
            print(f"[vantage] {kid.name} did not stop in time; killing it.", flush=True)
        kid.signal_group(signal.SIGKILL)  # and whatever is left in its group
        if kid.process is not None:
            kid.process.wait()
    for p in descendants():
        seen.setdefault(p.pid, p)
    leftovers = [p for p in seen.values() if p.is_running()]  # is_running checks the pid's age
    for p in leftovers:
        with contextlib.suppress(psutil.Error):
            if p.status() != psutil.STATUS_ZOMBIE:
                print(f"[vantage] killing leftover process {p.pid} ({p.name()}).", flush=True)
                p.kill()
    psutil.wait_procs(leftovers, timeout=2)  # reaps those that became ours
    reap_orphans(set())
    print(f"[vantage] stopped in {time.monotonic() - started:.1f} s.", flush=True)
