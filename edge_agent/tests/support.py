"""Helpers for the agent's tests: waiting on conditions, never on guessed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def eventually(condition: Callable[[], Any], timeout: float = 10.0, step: float = 0.01):
    """Wait until ``condition()`` is truthy and return it; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, step: float = 0.05):
    """The same for synchronous tests (processes, files)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
