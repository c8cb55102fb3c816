"""Waiting on conditions, never on guessed sleeps (no Django)."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable
from typing import Any


def wait_for(
    condition: Callable[[], Any],
    timeout: float = 20.0,
    message: str = "the condition",
    interval: float = 0.1,
) -> Any:
    """Poll ``condition`` until it returns something truthy and return that; AssertionError
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


async def eventually(
    condition: Callable[[], Any],
    timeout: float = 10.0,
    message: str = "the condition",
    interval: float = 0.01,
) -> Any:
    """The same inside an event loop: the loop runs on while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def http_get(port: int, timeout: float = 2.0) -> str | None:
    """The body of ``http://127.0.0.1:<port>/``, or None while nothing answers there."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as answer:
            return answer.read().decode()
    except OSError:
        return None
