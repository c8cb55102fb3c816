"""Inbound ports: a TCP forwarder per confirmed routing rule, from ``0.0.0.0:<host_port>`` to the
code node's container port.

A sandboxed node listens in its own network namespace, which nothing else can reach: the
forwarder creates each upstream socket inside that namespace (``sandbox.socket_in_netns``) and
connects it to ``127.0.0.1:<container_port>`` there. An unsandboxed node shares the host's
network, so the forwarder connects to ``127.0.0.1:<container_port>`` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from collections.abc import Callable

from edge_agent.apps import sandbox

logger = logging.getLogger("edge_agent.apps.forward")
BUFFER = 64 * 1024


class PortForwarder:
    def __init__(
        self,
        node: str,
        host_port: int,
        container_port: int,
        netns_pid: Callable[[], int | None] | None,
        *,
        host: str = "0.0.0.0",  # noqa: S104 (a confirmed host port is meant to be reachable)
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.node = node
        self.host_port = host_port
        self.container_port = container_port
        # For a sandboxed node: the PID whose network namespace holds it (it changes when the
        # node restarts; None while the node is down). None for an unsandboxed node.
        self.netns_pid = netns_pid
        self.host = host
        self.connect_timeout_s = connect_timeout_s
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, wait_s: float = 0) -> None:
        """Listen on the host port; OSError (for instance EADDRINUSE) if it cannot.

        ``wait_s``: how long a port in use is tried again. A replacement starts while the
        instance it replaces is being removed, and that one gives its ports back a moment later.
        """
        deadline = asyncio.get_running_loop().time() + wait_s
        delay = 0.1
        while True:
            try:
                self._server = await asyncio.start_server(
                    self._serve, self.host, self.host_port, reuse_address=True
                )
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or asyncio.get_running_loop().time() >= deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(1.0, delay * 2)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.netns_pid is None:
            return await asyncio.open_connection("127.0.0.1", self.container_port)
        pid = self.netns_pid()
        if pid is None:
            # Never fall back to the host's loopback: that port may be someone else's.
            raise ConnectionRefusedError(f"{self.node} is not running")
        sock = await asyncio.to_thread(sandbox.socket_in_netns, pid)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.container_port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    self._upstream(), self.connect_timeout_s
                )
            except (OSError, TimeoutError) as exc:
                logger.info(
                    "Port %d: node %s does not answer on its port %d (%s).",
                    self.host_port, self.node, self.container_port, exc,
                )  # fmt: skip
                return
            upstream_writer = up_writer
            await asyncio.gather(
                _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            self._connections.discard(task)
            for stream in (writer, upstream_writer):
                if stream is not None:
                    stream.close()
                    with contextlib.suppress(Exception):
                        await stream.wait_closed()


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(BUFFER):
            target.write(data)
            await target.drain()
    finally:
        # Half-close: the other side learns that no more data comes, as with a direct link.
        if target.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                target.write_eof()
