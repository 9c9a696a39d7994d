"""Stereo balance: how much louder the left channel is than the right, on a 0.25 s grid.

When each person in a conversation has a microphone of their own, recorded to one side, the
balance says who is talking. A constant offset (a source mixed off-centre) says nothing; the
speaker scorer uses the balance's movement about its median, not its value.
"""

from __future__ import annotations

import math

import numpy as np

from app.analysis.speech import SAMPLE_RATE

STEP = 0.25  # seconds per balance value
_FLOOR = 1e-7  # mean square below which a channel counts as silent (about -70 dBFS)


class BalanceMeter:
    """Accumulates each channel's sum of squares per STEP; only the sums are held."""

    def __init__(self) -> None:
        self._pos = 0
        self._sums: dict[int, list[float]] = {}  # bin -> [left, right, samples]

    def add(self, pcm: np.ndarray, t: float | None = None) -> None:
        """Feed int16 samples shaped (n, 2); `t` says where they start when not right after the last."""
        if t is not None:
            self._pos = round(t * SAMPLE_RATE)
        x = np.asarray(pcm, dtype=np.int16).reshape(-1, 2).astype(np.float64) / 32768.0
        per_bin = round(STEP * SAMPLE_RATE)
        start = 0
        while start < len(x):
            index = (self._pos + start) // per_bin
            stop = min(len(x), (index + 1) * per_bin - self._pos)
            piece = x[start:stop]
            acc = self._sums.setdefault(int(index), [0.0, 0.0, 0.0])
            acc[0] += float(np.dot(piece[:, 0], piece[:, 0]))
            acc[1] += float(np.dot(piece[:, 1], piece[:, 1]))
            acc[2] += len(piece)
            start = stop
        self._pos += len(x)

    def grid(self, duration: float) -> np.ndarray:
        """Left minus right in dB per STEP over `duration`; NaN where nothing was fed or both sides are silent."""
        n = math.ceil(duration / STEP - 1e-9) if duration > 0 else 0
        out = np.full(n, np.nan)
        for index, (left, right, count) in self._sums.items():
            if 0 <= index < n and count and max(left, right) / count > _FLOOR:
                out[index] = 10 * math.log10(max(left / count, _FLOOR) / max(right / count, _FLOOR))
        return out
