"""Messages the link sends now, bypassing the outbox: live video for "View output".

``LiveSender`` is built before the link and given both to the HDMI output (which sends through
it from its encoder thread) and to the link (which attaches the connection while it is up).
A message that cannot go now is dropped, never queued: such messages are worth nothing later.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

# Live messages handed to the event loop and not yet sent, at most: a slow link drops frames
# instead of piling them up.
MAX_IN_FLIGHT = 2


class LiveSender:
    def __init__(self) -> None:
        self._ws: ClientConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = 0
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, ws: ClientConnection, loop: asyncio.AbstractEventLoop) -> None:
        """The link is up on ``ws`` (the console welcomed the agent)."""
        self._ws, self._loop = ws, loop

    def detach(self) -> None:
        self._ws = None

    def send(self, message: dict[str, Any]) -> bool:
        """Send ``message`` now, from any thread; False, and nothing sent, when the link is
        down or still busy with the last ones."""
        ws, loop = self._ws, self._loop
        if ws is None or loop is None:
            return False
        with self._lock:
            if self._in_flight >= MAX_IN_FLIGHT:
                return False
            self._in_flight += 1
        text = json.dumps(message, separators=(",", ":"))

        def done() -> None:
            with self._lock:
                self._in_flight -= 1

        async def send() -> None:
            try:
                await ws.send(text)
            except ConnectionClosed:
                pass
            finally:
                done()

        def start() -> None:
            # Keep a reference: the loop holds tasks only weakly.
            task = loop.create_task(send())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        try:
            loop.call_soon_threadsafe(start)
        except RuntimeError:  # the loop closed: the agent stops
            done()
            return False
        return True
