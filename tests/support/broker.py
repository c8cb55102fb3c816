"""A Redis of the test's own, to stop, kill and restart (the fault drills), and the test
process's Celery app pointed at another broker (no Django at import)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.support.ports import free_port
from tests.support.waiting import wait_for

REDIS_SERVER = "/usr/bin/redis-server"


@dataclass
class RedisServer:
    """redis-server on a free port, without persistence: a restart comes back empty, as a
    Redis without a disk (or one whose disk was lost) does."""

    folder: Path
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.port = self.port or free_port()
        log = open(self.folder / f"redis-{self.port}.log", "ab")  # noqa: SIM115 - the child's
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_for(self.answers, 10, f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2)

    def kill9(self) -> None:
        """Killed outright: whatever it held (queued tasks included) is gone."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()


@contextlib.contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """This process's Celery app publishes to ``url`` meanwhile: its pools are let go on the
    way in and out (not closed: kombu keeps them per broker, and the next use of the same broker
    takes the same pool again), so that no connection to the other broker is reused."""
    from console.celery import app

    def reset() -> None:
        app._pool = None
        app.amqp._producer_pool = None

    before = app.conf.broker_url
    reset()
    app.conf.broker_url = url
    try:
        yield
    finally:
        reset()
        app.conf.broker_url = before


def nothing_listens() -> str:
    """The URL of a Redis that is not there: a broker that is down."""
    return f"redis://127.0.0.1:{free_port()}/0"
