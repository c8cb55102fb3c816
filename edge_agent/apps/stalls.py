"""Stalled pipelines: a camera whose frames no consumer takes any more.

An application that blocks (on a full pipe, a model call that never returns, a deadlock) still
looks RUNNING: its processes are alive. What shows it is its camera: frames keep arriving and
every one of them is dropped, replaced before any reader took it. ``StallWatch`` follows each
camera node's metrics report (about once a second, never per frame): when ``frames`` grew for
``stall_s`` seconds while ``frames - dropped`` (the frames a reader took) did not, the camera's
node is reported ERROR with the reason; the first frame taken again clears it.

A camera nobody ever read is not a stall (its ``dropped`` stays 0: there is no consumer), nor
is a camera that receives nothing (the camera node reports that itself).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

STALL_ENV = "VANTAGE_AGENT_STALL_S"
DEFAULT_STALL_S = 30.0


def stall_seconds() -> float:
    """``VANTAGE_AGENT_STALL_S`` (0 turns the watch off); ValueError names the variable."""
    raw = os.environ.get(STALL_ENV, "").strip()
    if not raw:
        return DEFAULT_STALL_S
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{STALL_ENV}={raw!r} is not a number of seconds") from None


@dataclass
class _Camera:
    taken: float  # frames a reader took (frames - dropped), at ``since``
    frames: float  # frames received, at ``since``
    since: float  # when a reader last took a frame (monotonic)
    stalled: bool = False


class StallWatch:
    def __init__(
        self,
        stall_s: float,
        on_stall: Callable[[str, str], None],
        on_recover: Callable[[str], None],
    ) -> None:
        self.stall_s = stall_s
        self.on_stall = on_stall  # (camera node, reason)
        self.on_recover = on_recover  # (camera node)
        self._cameras: dict[str, _Camera] = {}

    def stalled(self, camera: str) -> bool:
        state = self._cameras.get(camera)
        return bool(state and state.stalled)

    def metrics(self, camera: str, values: Mapping[str, Any], now: float | None = None) -> None:
        """One metrics report of a camera node (counters since its process started)."""
        frames, dropped = values.get("frames"), values.get("dropped")
        if self.stall_s <= 0 or not isinstance(frames, (int, float)):
            return
        if not isinstance(dropped, (int, float)):
            return
        now = time.monotonic() if now is None else now
        taken = frames - dropped
        state = self._cameras.get(camera)
        if state is None or taken < state.taken or frames < state.frames:
            self.reset(camera)  # a new camera process counts from 0 again
            self._cameras[camera] = _Camera(taken, frames, now)
            return
        if taken > state.taken:
            state.taken, state.frames, state.since = taken, frames, now
            if state.stalled:
                state.stalled = False
                self.on_recover(camera)
            return
        idle = now - state.since
        if not state.stalled and frames > state.frames and idle >= self.stall_s:
            state.stalled = True
            self.on_stall(
                camera,
                f"stalled: the application has taken none of this camera's frames for "
                f"{idle:.0f} s ({frames - state.frames:.0f} dropped); it may be blocked "
                f"(see its logs)",
            )

    def reset(self, camera: str) -> None:
        """Forget a camera (restarted, paused, or its own status changed); a stall it was in
        is over as far as this watch knows."""
        state = self._cameras.pop(camera, None)
        if state is not None and state.stalled:
            self.on_recover(camera)

    def clear(self) -> None:
        self._cameras.clear()
