"""Per-second audio level: dB of the mean square of 16 kHz PCM after a gentle high-pass.

The picker compares seconds of one source with each other, so the absolute calibration does not
matter. The high-pass (the signal minus its centred 10 ms moving average: -24 dB at 20 Hz, -9 dB
at 50 Hz, about 0 dB from 100 Hz up, +-2 dB ripple above) keeps rumble and DC offset from reading
as loud, the way K-weighting's first stage does, without a per-sample recursive filter in Python.
"""

from __future__ import annotations

import math

import numpy as np

from app.analysis.speech import SAMPLE_RATE

_AVERAGE = 160  # samples in the moving average: 10 ms at 16 kHz
_LAG = _AVERAGE // 2
SILENCE_DB = -100.0  # the level reported for digital silence


class LevelMeter:
    """Accumulates the sum of squares per second; holds 159 samples of filter history."""

    def __init__(self) -> None:
        self._pos = 0
        self._range_start = 0
        self._history = np.zeros(_AVERAGE - 1, dtype=np.float64)
        self._sums: dict[int, list[float]] = {}  # second -> [sum of squares, samples]

    def add(self, pcm: np.ndarray, t: float | None = None) -> None:
        """Feed int16 mono samples; `t` (seconds) says where they start when it is not right after the last."""
        if t is not None and round(t * SAMPLE_RATE) != self._pos:
            self._pos = self._range_start = round(t * SAMPLE_RATE)
            self._history[:] = 0.0
        x = np.asarray(pcm, dtype=np.int16).ravel().astype(np.float64) / 32768.0
        if len(x) == 0:
            return
        padded = np.concatenate([self._history, x])
        cumsum = np.concatenate([[0.0], np.cumsum(padded)])
        average = (cumsum[_AVERAGE:] - cumsum[:-_AVERAGE]) / _AVERAGE
        # A centred average (zero phase): the output trails the input by _LAG samples.
        filtered = padded[_LAG : _LAG + len(x)] - average
        self._history = padded[-(_AVERAGE - 1) :].copy()
        first = self._pos - (_AVERAGE - 1) + _LAG  # source sample of filtered[0]
        skip = max(0, self._range_start - first)  # outputs from before the range are history's zeros
        self._accumulate(first + skip, filtered[skip:])
        self._pos += len(x)

    def _accumulate(self, first: int, filtered: np.ndarray) -> None:
        """Add squares to the seconds of the source they fall in."""
        start, stop_all = first, first + len(filtered)
        while start < stop_all:
            second = start // SAMPLE_RATE
            stop = min(stop_all, (second + 1) * SAMPLE_RATE)
            piece = filtered[start - first : stop - first]
            acc = self._sums.setdefault(int(second), [0.0, 0.0])
            acc[0] += float(np.dot(piece, piece))
            acc[1] += len(piece)
            start = stop

    @property
    def end(self) -> float:
        """Time of the last sample fed, in seconds."""
        return self._pos / SAMPLE_RATE

    def per_second(self) -> dict[int, float]:
        """Level in dB (full scale = 0) of every second that received samples."""
        return {s: _db(total / count) for s, (total, count) in self._sums.items() if count > 0}


def _db(mean_square: float) -> float:
    return max(SILENCE_DB, 10.0 * math.log10(mean_square)) if mean_square > 0 else SILENCE_DB
