"""``panoramasdk.media``: one frame of one stream, as ``port.get()`` hands it out."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np


def _coordinate(method: str, argument: str, value: Any) -> float:
    # bool is a Real too, but True as a coordinate is always a mistake in the caller.
    if isinstance(value, bool) or not isinstance(value, (Real, np.number)):
        raise TypeError(f"{method}(): {argument} must be a number in [0, 1], got {value!r}")
    number = float(value)
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"{method}(): {argument} must be in [0, 1], got {value!r}")
    return number


class media:
    """One video frame. ``image`` is an (H, W, 3) uint8 BGR array; for frames from a camera it
    is a view into the camera's frame ring, so drawing on it in place shows in the output.
    Assigning another array to ``image`` is allowed: ``put()`` then copies it out."""

    def __init__(
        self,
        image: np.ndarray,
        stream_id: str = "",
        stream_uri: str = "",
        time_stamp: tuple[int, int] = (0, 0),
        is_cached: bool = False,
    ) -> None:
        # Applications never make these on Panorama; allowing it (as the Panorama test utility
        # does) costs nothing: such a media has no ring slot, so put() copies its image.
        self._image = image
        self._view: np.ndarray | None = None
        self._ring = ""
        self._slot = -1
        self._seq = 0
        self._decoded_ns = 0
        self._labels: list[tuple[str, float, float]] = []
        self._rects: list[tuple[float, float, float, float]] = []
        self.stream_id = stream_id
        self.stream_uri = stream_uri
        self.time_stamp = (int(time_stamp[0]), int(time_stamp[1]))
        self.is_cached = bool(is_cached)

    @classmethod
    def _from_ring(
        cls,
        view: np.ndarray,
        *,
        ring: str,
        slot: int,
        seq: int,
        decoded_ns: int,
        stream_id: str,
        stream_uri: str,
        time_stamp: tuple[int, int],
        is_cached: bool,
    ) -> media:
        item = cls(view, stream_id, stream_uri, time_stamp, is_cached)
        item._view = view
        item._ring, item._slot, item._seq, item._decoded_ns = ring, slot, seq, decoded_ns
        return item

    @property
    def image(self) -> np.ndarray:
        return self._image

    @image.setter
    def image(self, value: np.ndarray) -> None:
        self._image = value

    def _in_ring(self) -> bool:
        """Whether ``image`` is still the ring slot's own memory (then put() refers to the slot
        instead of copying). A new array object over the same memory counts as the slot."""
        view, image = self._view, self._image
        if view is None or not isinstance(image, np.ndarray):
            return False
        if image is view:
            return True
        return (
            image.dtype == view.dtype
            and image.shape == view.shape
            and image.strides == view.strides
            and image.__array_interface__["data"][0] == view.__array_interface__["data"][0]
        )

    def add_label(self, text: str, x: float, y: float) -> None:
        """A text overlay at (x, y), as fractions of the frame's width and height."""
        x = _coordinate("add_label", "x", x)
        y = _coordinate("add_label", "y", y)
        self._labels.append((str(text), x, y))

    def add_rect(self, left: float, top: float, right: float, bottom: float) -> None:
        """A box overlay, corners as fractions of the frame's width and height."""
        values = [
            _coordinate("add_rect", name, value)
            for name, value in (("left", left), ("top", top), ("right", right), ("bottom", bottom))
        ]
        self._rects.append((values[0], values[1], values[2], values[3]))

    def __repr__(self) -> str:
        shape = getattr(self._image, "shape", None)
        return (
            f"<panoramasdk.media stream_id={self.stream_id!r} image={shape} "
            f"time_stamp={self.time_stamp} is_cached={self.is_cached}>"
        )
