"""What the benchmarks share: ports, waiting on conditions, the console's health."""

from __future__ import annotations

import socket
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, timeout: float, what: str, interval: float = 0.2):
    """Poll ``condition`` until it returns something truthy; stop the benchmark on timeout."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return result


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def free_host_port() -> int:
    """A free port in Panorama's range for an application's host ports (8000-9000)."""
    import random

    for port in random.sample(range(8000, 9001), 1001):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))  # noqa: S104 - the agent's forwarder listens on all
            except OSError:
                continue
            return port
    raise SystemExit("bench: no free port between 8000 and 9000")
