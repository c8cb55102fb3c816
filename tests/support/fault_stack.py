"""A console whose parts a fault drill can break one at a time: a Redis of its own, the ASGI
server, one Celery worker and beat, each a process the test starts, stops and kills -9. A worker
that exits unasked is started again, as the launcher (console/launcher.py) restarts a crashed
child. Its sweeper runs every second and re-sends a deployment pending for a few seconds, and
a lost task returns to the queue after a few seconds, so a drill takes seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis

from tests.support.broker import RedisServer
from tests.support.paths import BASE_DIR
from tests.support.ports import free_port
from tests.support.waiting import http_ok, wait_for

# The drills' clock: a lost task goes back to the queue after VISIBILITY_S unacknowledged, and
# the sweeper re-sends a deployment pending for REDRIVE_AFTER_S (checked every SWEEP_S).
VISIBILITY_S = 4
REDRIVE_AFTER_S = 5
SWEEP_S = 1


@dataclass
class Process:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL to the whole process group (a worker's pool processes too): nothing of it
        gets to say goodbye, as when the machine or the OOM killer takes it."""
        if self.popen is not None and self.running():
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is not None and self.running():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def children(self) -> list[psutil.Process]:
        if self.popen is None or not self.running():
            return []
        return psutil.Process(self.popen.pid).children()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class FaultStack:
    folder: Path
    database_url: str
    secret_key: str
    var_dir: str
    redis: RedisServer = field(init=False)
    url: str = field(init=False)
    env: dict[str, str] = field(init=False)
    web: Process = field(init=False)
    worker: Process = field(init=False)
    beat: Process = field(init=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False
        self._closing = threading.Event()
        self.restarts = 0  # workers the supervisor started again
        self.paused = False
        port = free_port()
        redis_port = free_port()
        while redis_port == port:  # neither is bound yet: the kernel may offer one twice
            redis_port = free_port()
        self.redis = RedisServer(self.folder, redis_port)
        self.url = f"http://127.0.0.1:{port}"
        run_id = uuid.uuid4().hex[:8]
        self.queue = f"vantage-faults-{run_id}"
        self.worker_name = f"faults-{run_id}@{socket.gethostname()}"
        python = sys.executable
        self.web = Process("web", [
            python, "-m", "uvicorn", "console.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--lifespan", "off", "--no-server-header",
        ], self.folder / "web.log")  # fmt: skip
        self.worker = Process("worker", [
            python, "-m", "celery", "-A", "console", "worker", "--loglevel", "INFO",
            "--concurrency", "1", "--without-mingle", "--without-gossip",
            "--hostname", f"faults-{run_id}@%h",
        ], self.folder / "worker.log")  # fmt: skip
        self.beat = Process("beat", [
            python, "-m", "celery", "-A", "console", "beat", "--loglevel", "INFO",
            "--schedule", str(self.folder / "celerybeat-schedule"),
        ], self.folder / "beat.log")  # fmt: skip

    def start(self) -> FaultStack:
        self.redis.start()
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
        env.update(
            DATABASE_URL=self.database_url,
            DATABASE_POOL="true",
            REDIS_URL=self.redis.url,
            CONSOLE_URL=self.url,
            LIVE_RELAY_URL=self.url,
            SECRET_KEY=self.secret_key,
            VANTAGE_VAR_DIR=self.var_dir,
            CELERY_QUEUE=self.queue,
            CHANNEL_LAYER_PREFIX=self.queue,
            DEVICE_HEARTBEAT_S="1",
            DEVICE_LEASE_S="4",
            TASK_VISIBILITY_TIMEOUT_S=str(VISIBILITY_S),
            DEPLOYMENT_REDRIVE_AFTER_S=str(REDRIVE_AFTER_S),
            DEPLOYMENT_SWEEP_S=str(SWEEP_S),
            PYTHONUNBUFFERED="1",
        )
        self.env = env
        self.web.start(env)
        self.start_worker()
        self.beat.start(env)
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()
        wait_for(lambda: http_ok(self.url + "/healthz"), 60, "the console to answer")
        return self

    def start_worker(self) -> None:
        """A worker (again), ready when it consumes its queue; supervised from then on."""
        with self._lock:
            self._held = False
            if self.worker.running():
                return
            marker = len(self.worker.log())
            self.worker.start(self.env)
        wait_for(lambda: " ready." in self.worker.log()[marker:], 60, "the worker to be ready")

    def hold_worker(self) -> None:
        """No worker until start_worker(): tasks wait in the queue meanwhile."""
        with self._lock:
            self._held = True
            self.worker.stop()

    def _control(self, command: str) -> None:
        """A remote-control command to the worker, answered (Celery's pidbox, through Redis)."""
        from celery import Celery

        for attempt in range(3):
            app = Celery("fault-drills", broker=self.redis.url, set_as_current=False)
            try:
                method = getattr(app.control, command)
                replies = method(self.queue, destination=[self.worker_name], reply=True,
                                 timeout=10)  # fmt: skip
            except redis.ConnectionError:
                # Seen once after Redis was restarted: the reply's connection was closed under
                # it. The command is idempotent; send it again.
                if attempt == 2:
                    raise
                continue
            finally:
                app.close()
            assert replies, f"the worker did not answer {command}"
            return

    def pause_worker(self) -> None:
        """The worker, still running, takes no tasks until resume_worker(): they wait in the
        queue (seconds sooner than stopping and starting it)."""
        self._control("cancel_consumer")
        self.paused = True

    def resume_worker(self) -> None:
        if self.paused and self.worker.running():
            self._control("add_consumer")
        self.paused = False

    def _supervise(self) -> None:
        """As the launcher does: a worker that exits without being asked to is started again
        (within half a second)."""
        while not self._closing.wait(0.5):
            with self._lock:
                if not self._held and not self.worker.running():
                    self.restarts += 1
                    self.paused = False  # a new worker consumes its queue
                    self.worker.start(self.env)

    def stop(self) -> None:
        """Everything killed at once: nothing of a drill's console is worth a graceful stop."""
        self._closing.set()
        with self._lock:
            for process in (self.beat, self.worker, self.web):
                process.kill9()
        self.redis.kill9()

    # --- what the broker holds -------------------------------------------------------------

    def queued(self, task: str = "applications.tasks.deploy_instance") -> int:
        """Copies of ``task`` waiting in the queue, or taken and not yet acknowledged (beat
        keeps sending its periodic tasks meanwhile: they are not counted)."""
        client = self.redis.client()
        waiting: list[bytes] = client.lrange(self.queue, 0, -1)  # type: ignore[assignment]
        taken: list[bytes] = client.hvals("unacked")  # type: ignore[assignment]
        messages = [*waiting, *taken]
        return sum(1 for message in messages if task.encode() in message)

    # --- the REST API ------------------------------------------------------------------------

    def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any, Any]:
        """(status, headers (names in any case), parsed body) of an API call."""
        request = urllib.request.Request(  # noqa: S310 - our own server
            self.url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return answer.status, answer.headers, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.headers, json.loads(error.read() or b"null")

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.log()[-3000:]}" for p in (self.web, self.worker, self.beat)
        )
