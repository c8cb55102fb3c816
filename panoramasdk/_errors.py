"""The SDK's exceptions."""

from __future__ import annotations


class TimeoutException(TimeoutError):
    """``port.get(timeout=…)`` saw no new frame in time. A ``TimeoutError``, so code written
    against either name catches it."""
