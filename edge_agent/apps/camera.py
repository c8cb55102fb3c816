"""A camera node before the video pipeline exists: it checks that its stream opens and gives a
first H.264 frame (``streamcheck``), reports RUNNING or ERROR in Panorama's words, checks
again periodically and on RESUME, and honours ``launch: onSignal`` and PAUSE/RESUME.

The stream's URL carries credentials: it is never logged, and neither is any FFmpeg message
(they quote the URL); the status messages are streamcheck's own sentences.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from devicelink.apps import NodeSpec
from edge_agent.apps.process import StatusCallback

logger = logging.getLogger("edge_agent.apps.camera")
Probe = Callable[..., Any]


def _default_probe(url: str, username: str, password: str, timeout: float) -> None:
    # Imported here: PyAV is heavy, and only camera nodes need it.
    from streamcheck import probe

    probe(url, username, password, open_timeout=timeout, read_timeout=timeout)


def starts_paused(node: NodeSpec) -> bool:
    """onAppStart nodes run unless paused; onSignal (and onDemand) nodes wait for RESUME."""
    if node.signal is not None:
        return node.signal == "PAUSE"
    return node.launch != "onAppStart"


class CameraNode:
    def __init__(
        self,
        node: NodeSpec,
        on_status: StatusCallback,
        *,
        check_s: float = 60.0,
        timeout_s: float = 10.0,
        probe: Callable[[str, str, str, float], None] = _default_probe,
    ) -> None:
        self.name = node.name
        self.node = node
        self.on_status = on_status
        self.check_s = check_s
        self.timeout_s = timeout_s
        self.probe = probe
        self.paused = starts_paused(node)
        self._last_error = ""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Report the first status (after the first check unless paused), then keep checking."""
        if self.paused:
            self.on_status(self.name, "PAUSED", "")
        else:
            await self._check()
        self._task = asyncio.create_task(self._loop(), name=f"camera-{self.name}")

    def set_signal(self, signal: str | None) -> None:
        """Apply the operator's latest PAUSE or RESUME (None: leave as it is)."""
        if signal == "PAUSE" and not self.paused:
            self.paused = True
            logger.info("Camera node %s paused.", self.name)
            self.on_status(self.name, "PAUSED", "")
        elif signal == "RESUME" and self.paused:
            self.paused = False
            logger.info("Camera node %s resumed.", self.name)
            self._wake.set()  # check the stream at once

    def update(self, node: NodeSpec) -> None:
        self.node = node
        self.set_signal(node.signal)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                # Paused: sleep until RESUME; running: until the next periodic check.
                await asyncio.wait_for(self._wake.wait(), None if self.paused else self.check_s)
            self._wake.clear()
            if not self.paused:
                await self._check()

    async def _check(self) -> None:
        stream = self.node.stream
        if stream is None:
            self.on_status(self.name, "ERROR", "The camera node has no stream.")
            return
        try:
            await asyncio.to_thread(
                self.probe, stream.url, stream.username, stream.password, self.timeout_s
            )
        except Exception as exc:
            message = getattr(exc, "message", None)
            if not isinstance(message, str):
                message = f"The stream could not be checked ({type(exc).__name__})."
            if not self.paused:  # a PAUSE that came during the check wins
                if message != self._last_error:
                    logger.warning("Camera node %s: %s", self.name, message)
                self._last_error = message
                self.on_status(self.name, "ERROR", message)
            return
        if not self.paused:
            self._last_error = ""
            self.on_status(self.name, "RUNNING", "")
