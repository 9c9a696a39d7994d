"""Frame difference and the per-second motion measure."""

from __future__ import annotations

import math

import numpy as np


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute luma difference of two equally sized greyscale frames (0–255)."""
    # int16 keeps the subtraction exact without the cost of a float copy of each frame.
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


class MotionMeter:
    """Per-second motion: the median frame difference within each second of the source.

    The median, not the mean, so one shot cut inside a second does not read as a second of motion.
    Only the current second's values are held.
    """

    def __init__(self) -> None:
        self._seconds: dict[int, float] = {}
        self._current: int | None = None
        self._values: list[float] = []

    def add_difference(self, t: float, difference: float) -> None:
        """Record the difference between the frame at `t` and the frame before it."""
        second = math.floor(t)
        if second != self._current:
            self._close()
            self._current = second
        self._values.append(difference)

    def per_second(self) -> dict[int, float]:
        """Median difference of every second that had at least one frame pair."""
        seconds = dict(self._seconds)
        if self._current is not None and self._values:
            seconds[self._current] = float(np.median(self._values))
        return seconds

    def _close(self) -> None:
        if self._current is not None and self._values:
            self._seconds[self._current] = float(np.median(self._values))
        self._values = []
