"""A task for the stop tests, loaded into the launcher's worker with CELERY_WORKER_INCLUDE.

``hold`` stands in for a real task that is running when the stack is stopped: it marks each
run in a folder, works until a deadline or until the test releases it, then marks the end.
"""

from __future__ import annotations

import time
from pathlib import Path

from celery import shared_task


@shared_task(acks_late=True)
def hold(folder: str, name: str, seconds: float) -> None:
    base = Path(folder)
    with open(base / f"{name}.started", "a") as started:  # one line per run
        started.write(f"{time.time()}\n")
    release = base / f"{name}.release"
    end = time.monotonic() + seconds
    while time.monotonic() < end and not release.exists():
        time.sleep(0.05)  # the task's own "work"; the tests wait on the files, not on this
    (base / f"{name}.done").write_text(f"{time.time()}\n")
