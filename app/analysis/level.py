"""Audio level: dB of the mean square of 16 kHz PCM after a gentle high-pass, per second and per 10 ms.

The picker compares seconds of one source with each other, so the absolute calibration does not
matter. The high-pass (the signal minus its centred 10 ms moving average: -24 dB at 20 Hz, -9 dB
at 50 Hz, about 0 dB from 100 Hz up, +-2 dB ripple above) keeps rumble and DC offset from reading
as loud, the way K-weighting's first stage does, without a per-sample recursive filter in Python.

The 10 ms series (where an edge can go when no pause is in reach) is one byte a frame, -0.5 dB
steps: 4 hours of source is 1.4 MB.
"""

from __future__ import annotations

import math

import numpy as np

from app.analysis.speech import SAMPLE_RATE

_AVERAGE = 160  # samples in the moving average: 10 ms at 16 kHz
_LAG = _AVERAGE // 2
SILENCE_DB = -100.0  # the level reported for digital silence
FINE_SAMPLES = 160  # 10 ms: one step of the fine series
FINE_SECONDS = FINE_SAMPLES / SAMPLE_RATE
UNMEASURED = 255  # fine-series code of a 10 ms step no audio was decoded for


def fine_code(db: float) -> int:
    """A level in dB as one byte of the fine series: 0 = full scale, each step 0.5 dB quieter, 254 the floor."""
    return int(min(254, max(0, round(-2.0 * db))))


def fine_db(code: np.ndarray) -> np.ndarray:
    """Fine-series codes back to dB; NaN where unmeasured."""
    return np.where(code == UNMEASURED, np.nan, -0.5 * code.astype(np.float64))


class LevelMeter:
    """Accumulates the sum of squares per second and per 10 ms; holds 159 samples of filter history."""

    def __init__(self) -> None:
        self._pos = 0
        self._range_start = 0
        self._history = np.zeros(_AVERAGE - 1, dtype=np.float64)
        self._sums: dict[int, list[float]] = {}  # second -> [sum of squares, samples]
        self._fine = bytearray()  # one code (`fine_code`) per 10 ms step of the source
        self._open: tuple[int, float, int] | None = None  # the step still filling: (index, sum of squares, samples)

    def add(self, pcm: np.ndarray, t: float | None = None) -> None:
        """Feed int16 mono samples; `t` (seconds) says where they start when it is not right after the last."""
        if t is not None and round(t * SAMPLE_RATE) != self._pos:
            self._pos = self._range_start = round(t * SAMPLE_RATE)
            self._history[:] = 0.0
            self._close_step()
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
        self._accumulate_fine(first + skip, filtered[skip:])
        self._pos += len(x)

    def _accumulate_fine(self, first: int, filtered: np.ndarray) -> None:
        """Add squares to their 10 ms steps; every step but the last is complete and written as a code."""
        if len(filtered) == 0:
            return
        step0 = first // FINE_SAMPLES
        steps = (np.arange(first, first + len(filtered)) // FINE_SAMPLES) - step0
        sums = np.bincount(steps, weights=filtered * filtered)
        counts = np.bincount(steps)
        if self._open is not None and self._open[0] == step0:
            sums[0] += self._open[1]
            counts[0] += self._open[2]
        elif self._open is not None:
            self._close_step()
        for k in range(len(sums) - 1):
            self._write(step0 + k, sums[k] / counts[k])
        self._open = (step0 + len(sums) - 1, float(sums[-1]), int(counts[-1]))

    def _close_step(self) -> None:
        if self._open is not None and self._open[2] > 0:
            self._write(self._open[0], self._open[1] / self._open[2])
        self._open = None

    def _write(self, step: int, mean_square: float) -> None:
        if step >= len(self._fine):
            self._fine.extend(bytes([UNMEASURED]) * (step + 1 - len(self._fine)))
        self._fine[step] = fine_code(_db(mean_square))

    def fine(self) -> bytes:
        """The 10 ms series so far, one `fine_code` a step from the source's start (UNMEASURED in gaps)."""
        out = bytearray(self._fine)
        if self._open is not None and self._open[2] > 0:
            step = self._open[0]
            out.extend(bytes([UNMEASURED]) * max(0, step + 1 - len(out)))
            out[step] = fine_code(_db(self._open[1] / self._open[2]))
        return bytes(out)

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
