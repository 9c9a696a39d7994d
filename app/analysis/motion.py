"""Frame difference, the per-second motion measure, and which frames follow each other (gaps between ranges)."""

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


class FrameSteps:
    """Whether each frame of a stream fed in time order directly follows the one before it.

    Frames come on a constant-rate grid, so the smallest step seen is the frame interval. A step of more than
    `tolerance` intervals left frames out (one decoded range ended and the next began, maybe well under a second
    later): comparing across it would read the jump as a cut, a burst of motion or a fade. So would a step of
    more than `max_step` seconds (before the interval is known) or one that does not move forward.
    """

    def __init__(self, *, tolerance: float = 1.5, max_step: float = 1.0) -> None:
        self.tolerance = tolerance
        self.max_step = max_step
        self.interval: float | None = None  # the smallest step seen between following frames
        self._last: float | None = None

    def follows(self, t: float) -> bool:
        """Record the frame at `t`; True when it directly follows the previous frame (False for the first)."""
        last, self._last = self._last, t
        if last is None:
            return False
        step = t - last
        if not 0 < step <= self.max_step or (self.interval is not None and step > self.tolerance * self.interval):
            return False
        self.interval = step if self.interval is None else min(self.interval, step)
        return True


class MotionCentre:
    """Where in the picture things move: the horizontal centre of frame differences per `interval`.

    For shots without a face, the crop follows the action rather than sitting in the middle. Frames
    are compared `step` seconds apart (not every frame: the centre of motion moves slowly), and a
    difference below `noise` luma levels, compression shimmer, counts as still.
    """

    def __init__(self, *, interval: float = 0.5, step: float = 0.1, noise: float = 8.0) -> None:
        self.interval = interval
        self.step = step
        self.noise = noise
        self._previous: tuple[float, np.ndarray] | None = None
        self._sums: dict[int, list[float]] = {}  # bin -> [sum of x * weight, sum of weight]

    def add(self, t: float, gray: np.ndarray) -> None:
        """Offer a frame; it is compared when `step` has passed since the last one compared."""
        previous = self._previous
        if previous is not None and 0 < t - previous[0] < self.step - 1e-6:
            return
        self._previous = (t, gray)
        if previous is None or t - previous[0] > 2 * self.step:
            return  # a gap between decoded ranges: nothing to compare with
        change = np.abs(gray.astype(np.int16) - previous[1].astype(np.int16))
        columns = np.where(change > self.noise, change, 0).sum(axis=0, dtype=np.float64)
        weight = float(columns.sum())
        if weight <= 0:
            return
        x = float(np.dot(columns, np.arange(len(columns)) + 0.5) / weight) / len(columns)
        acc = self._sums.setdefault(math.floor(t / self.interval), [0.0, 0.0])
        acc[0] += x * weight
        acc[1] += weight

    def grid(self, duration: float) -> np.ndarray:
        """The centre of motion (0 left – 1 right) per `interval` over `duration`; NaN where nothing moved."""
        n = math.ceil(duration / self.interval - 1e-9) if duration > 0 else 0
        out = np.full(n, np.nan)
        for index, (xs, weight) in self._sums.items():
            if 0 <= index < n and weight > 0:
                out[index] = xs / weight
        return out
