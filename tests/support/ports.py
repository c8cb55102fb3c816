"""Free ports for servers the tests and benchmarks start (no Django)."""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_host_port() -> int:
    """A free port in Panorama's range for an application's host ports (8000-9000)."""
    for port in random.sample(range(8000, 9001), 1001):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))  # noqa: S104 - the agent's forwarder listens on all
            except OSError:
                continue
            return port
    raise AssertionError("no free port between 8000 and 9000")
