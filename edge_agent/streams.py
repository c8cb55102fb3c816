"""Stream checks the console asks this appliance for: "Test stream", run where the cameras are.

The console sends ``check_stream`` (docs/protocol.md) with the camera's URL and credentials;
``StreamChecker`` probes the stream with the shared ``streamcheck`` package in a thread of its
own, so the event loop (the link, heartbeats, jobs) never waits on a camera, and queues the
result as a ``stream_check`` report: through the outbox, so it reaches the console even if the
link breaks meanwhile. The password and the URL with credentials are never logged. The link
hands it the ``check_stream`` messages (``LinkHooks.handlers``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from devicelink.messages import MAX_SNAPSHOT_BYTES, CheckStream
from edge_agent.reports import Reporter

logger = logging.getLogger(__name__)
SCHEMES = ("rtsp", "rtsps", "file")
MAX_PARALLEL = 2


def _failed(check_id: int, error: str, hint: str) -> dict[str, Any]:
    return {"check_id": check_id, "ok": False, "error": error[:500], "hint": hint[:500]}


def run_check(message: CheckStream) -> dict[str, Any]:
    """Probe the stream (blocking, up to about twice ``timeout_s``); the report's body."""
    # Imported here: PyAV loads FFmpeg, which an agent that is never asked need not pay for.
    from streamcheck import StreamCheckFailed, probe

    check_id = message.check_id
    if message.sealed:
        return _failed(
            check_id,
            "The camera's credentials were sealed to another key than this appliance's.",
            "Set the appliance up again with a new archive, or see the appliance's log.",
        )
    scheme = urlsplit(message.url).scheme
    if scheme not in SCHEMES:
        return _failed(
            check_id,
            f"The appliance tests only rtsp://, rtsps:// and file:// streams, not {scheme}://.",
            "Edit the stream's URL.",
        )
    try:
        info = probe(
            message.url,
            message.username,
            message.password,
            open_timeout=message.timeout_s,
            read_timeout=message.timeout_s,
        )
    except StreamCheckFailed as failure:
        # streamcheck's messages are fixed sentences: never the URL or the credentials.
        logger.info("Stream check %d failed: %s", check_id, failure.message)
        return _failed(check_id, failure.message, failure.hint)
    except Exception as exc:  # the check must end, whatever went wrong
        # Only the type: messages of lower layers may carry the URL with its credentials.
        logger.error("Stream check %d could not run: %s", check_id, type(exc).__name__)
        return _failed(
            check_id,
            f"The check could not run on the appliance ({type(exc).__name__}).",
            "See the appliance's log.",
        )
    snapshot = info.snapshot_jpeg if len(info.snapshot_jpeg) <= MAX_SNAPSHOT_BYTES else b""
    logger.info(
        "Stream check %d succeeded: %s %dx%d.", check_id, info.codec, info.width, info.height
    )
    return {
        "check_id": check_id,
        "ok": True,
        "codec": info.codec[:20],
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "first_frame_ms": info.first_frame_ms,
        "snapshot_jpeg_b64": base64.b64encode(snapshot).decode("ascii"),
    }


def in_daemon_thread(func: Callable[[], Any]) -> asyncio.Future[Any]:
    """``func()`` in a thread of its own; its result as a future of the running loop.

    Unlike ``asyncio.to_thread`` the thread is a daemon: a probe waiting on a silent camera
    cannot hold up the agent's stop (the default executor is joined at the end of asyncio.run).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return  # cancelled: nobody waits any more
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def work() -> None:
        result, error = None, None
        try:
            result = func()
        except BaseException as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: the agent stopped
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="stream-check", daemon=True).start()
    return future


class StreamChecker:
    """Runs the console's check_stream requests, at most ``max_parallel`` at a time."""

    def __init__(
        self,
        reporter: Reporter | None = None,
        *,
        check: Callable[[CheckStream], dict[str, Any]] = run_check,
        max_parallel: int = MAX_PARALLEL,
    ) -> None:
        self.reporter = reporter
        self._check = check
        self._slots = asyncio.Semaphore(max_parallel)
        self._running: dict[int, asyncio.Task[None]] = {}

    @property
    def running(self) -> int:
        return len(self._running)

    def handle(self, message: CheckStream) -> None:
        """Start a check (from the event loop); one already running with that id is not repeated."""
        if message.check_id in self._running:
            return
        logger.info("The console asks for stream check %d.", message.check_id)
        task = asyncio.create_task(self._run(message))
        self._running[message.check_id] = task
        task.add_done_callback(lambda _: self._running.pop(message.check_id, None))

    async def _run(self, message: CheckStream) -> None:
        async with self._slots:
            try:
                body = await in_daemon_thread(lambda: self._check(message))
            except Exception as exc:
                logger.error("Stream check %d failed: %s", message.check_id, type(exc).__name__)
                body = _failed(message.check_id, "The appliance could not run the check.", "")
        if self.reporter is None:
            return
        try:
            self.reporter.queue_report("stream_check", body)
        except ValueError as exc:  # a body the console would refuse: say so, report the failure
            logger.error("Stream check %d: %s", message.check_id, exc)
            self.reporter.queue_report(
                "stream_check",
                _failed(message.check_id, "The appliance could not report the result.", str(exc)),
            )

    async def close(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
