"""The live stack: the real ASGI server, Celery worker and beat, started by the run command's
own launcher on the test database (a pytest plugin)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.launcher import launch_console, stop_console
from tests.support.paths import ASYNC_UNSAFE, BASE_DIR
from tests.support.ports import free_port
from tests.support.waiting import wait_for


def pytest_collection_modifyitems(items):
    """Transactional tests reset sequences when they flush the database.

    A flush empties django_content_type too, and post_migrate fills it again. With the sequences
    reset the rows come back with the same ids, which the live stack's server and worker have
    cached (the audit log writes them); otherwise their next audit entry fails its foreign key.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and "reset_sequences" not in marker.kwargs:
            kwargs = {**marker.kwargs, "reset_sequences": True}
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


def database_url_for_subprocesses() -> str:
    """The URL of the database the tests use, for the server and worker processes."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@dataclass
class LiveStack:
    url: str
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """Run a management command as another process of this installation would."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def live_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LiveStack]:
    """The whole stack, started by the run command's own launcher, on the test database."""
    from console.celery import app as celery_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run_id = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if k != ASYNC_UNSAFE}
    env.update(
        DATABASE_URL=database_url_for_subprocesses(),
        CONSOLE_URL=url,
        LIVE_RELAY_URL=url,
        SECRET_KEY=settings.SECRET_KEY,
        VANTAGE_VAR_DIR=str(settings.VAR_DIR),
        CELERY_QUEUE=f"vantage-test-{run_id}",
        CHANNEL_LAYER_PREFIX=f"vantage-test-{run_id}",
        # Appliances in tests heartbeat every second and go OFFLINE after 4 s of silence.
        DEVICE_HEARTBEAT_S="1",
        DEVICE_LEASE_S="4",
    )
    # This test process sends tasks and live updates too: point it at the same places.
    celery_app.conf.task_default_queue = env["CELERY_QUEUE"]
    settings.LIVE_RELAY_URL = url
    if settings.REDIS_URL:
        settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = env["CHANNEL_LAYER_PREFIX"]
        from channels.layers import channel_layers

        channel_layers.backends.clear()

    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    process = launch_console(port, env, log_path)
    stack = LiveStack(url=url, env=env, process=process, log_path=log_path)
    try:
        wait_for(
            lambda: "Vantage is running" in stack.log() or process.poll() is not None,
            timeout=90,
            message="the stack to start",
        )
        if process.poll() is not None:
            raise AssertionError(f"the stack exited early:\n{stack.log()[-4000:]}")
        yield stack
    finally:
        stop_console(process)
        if process.returncode not in (0, None, -15):
            print(stack.log()[-4000:])
