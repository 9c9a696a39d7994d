"""Per-second audio level: dB of the mean square of 16 kHz PCM after a gentle high-pass.

The picker compares seconds of one source with each other, so the absolute calibration does not
matter. The high-pass (the signal minus its 10 ms moving average, a null at 100 Hz and a -3 dB
corner near 45 Hz) keeps rumble and DC offset from reading as loud, the way K-weighting's first
stage does, without a per-sample recursive filter in Python.
"""

from __future__ import annotations

import math

import numpy as np

from app.analysis.speech import SAMPLE_RATE

_AVERAGE = 160  # samples in the moving average: 10 ms at 16 kHz
SILENCE_DB = -100.0  # the level reported for digital silence


class LevelMeter:
    """Accumulates the sum of squares per second; holds 159 samples of filter history."""

    def __init__(self) -> None:
        self._pos = 0
        self._history = np.zeros(_AVERAGE - 1, dtype=np.float64)
        self._sums: dict[int, list[float]] = {}  # second -> [sum of squares, samples]

    def add(self, pcm: np.ndarray, t: float | None = None) -> None:
        """Feed int16 mono samples; `t` (seconds) says where they start when it is not right after the last."""
        if t is not None and round(t * SAMPLE_RATE) != self._pos:
            self._pos = round(t * SAMPLE_RATE)
            self._history[:] = 0.0
        x = np.asarray(pcm, dtype=np.int16).ravel().astype(np.float64) / 32768.0
        if len(x) == 0:
            return
        padded = np.concatenate([self._history, x])
        cumsum = np.concatenate([[0.0], np.cumsum(padded)])
        average = (cumsum[_AVERAGE:] - cumsum[:-_AVERAGE]) / _AVERAGE
        filtered = x - average
        self._history = padded[-(_AVERAGE - 1) :].copy()
        # Split the chunk at second boundaries of the source.
        start = self._pos
        while start < self._pos + len(x):
            second = start // SAMPLE_RATE
            stop = min(self._pos + len(x), (second + 1) * SAMPLE_RATE)
            piece = filtered[start - self._pos : stop - self._pos]
            acc = self._sums.setdefault(int(second), [0.0, 0.0])
            acc[0] += float(np.dot(piece, piece))
            acc[1] += len(piece)
            start = stop
        self._pos += len(x)

    @property
    def end(self) -> float:
        """Time of the last sample fed, in seconds."""
        return self._pos / SAMPLE_RATE

    def per_second(self) -> dict[int, float]:
        """Level in dB (full scale = 0) of every second that received samples."""
        return {s: _db(total / count) for s, (total, count) in self._sums.items() if count > 0}


def _db(mean_square: float) -> float:
    return max(SILENCE_DB, 10.0 * math.log10(mean_square)) if mean_square > 0 else SILENCE_DB
