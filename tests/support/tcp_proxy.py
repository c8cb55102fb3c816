"""A TCP proxy the tests can cut and restore, to take a network path down like a pulled cable."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; ``cut()`` drops every connection and refuses new
    ones until ``restore()``.

    ``freeze()`` is the other kind of outage: a peer that stops answering while the TCP
    connections stay up (a hung server, a stateful firewall dropping packets). Every connection,
    old and new, is kept open but no byte is forwarded either way until ``thaw()``, which
    forwards what was held back, in order.

    ``port`` picks the port to listen on (default: any free one), for a proxy that takes over
    an address something was already told to use. ``freeze_when(data)``, when set, freezes the
    proxy right after it forwarded a chunk for which it is true: a peer that hangs at an exact
    point of a conversation.

    ``capture()`` returns every byte forwarded so far, both ways: what someone on the path
    would record.
    """

    def __init__(self, target_host: str, target_port: int, *, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._up = True
        self._closed = False
        self._flowing = threading.Event()
        self._flowing.set()
        self.freeze_when: Callable[[bytes], bool] | None = None
        self._captured = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            # The connect timeout must not become a read timeout: a frozen pump waits for
            # as long as the test keeps it frozen.
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update({client, upstream})
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                with self._lock:
                    self._captured += data
                sink.sendall(data)
                if self.freeze_when is not None and self.freeze_when(data):
                    self._flowing.clear()
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    @property
    def frozen(self) -> bool:
        return not self._flowing.is_set()

    def capture(self) -> bytes:
        with self._lock:
            return bytes(self._captured)

    def cut(self) -> None:
        self._up = False
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def restore(self) -> None:
        self._up = True

    def freeze(self) -> None:
        """Stop forwarding bytes, closing nothing: the other side simply goes silent."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Forward again, starting with what was held back while frozen."""
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()
        self._flowing.set()  # frozen pumps find their sockets closed and end
