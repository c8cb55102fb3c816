"""What only the benchmarks need; ports and waiting come from the tests' library
(tests/support), as the tests use them."""

from __future__ import annotations

from tests.support.ports import free_host_port, free_port
from tests.support.waiting import http_ok, wait_for

__all__ = ["free_host_port", "free_port", "healthy", "wait_until"]


def wait_until(condition, timeout: float, what: str, interval: float = 0.2):
    """``wait_for`` that stops the benchmark with a one-line message instead of a traceback."""
    try:
        return wait_for(condition, timeout, what, interval)
    except AssertionError as timed_out:
        raise SystemExit(f"bench: {timed_out}") from None


def healthy(url: str) -> bool:
    return http_ok(url + "/healthz")
