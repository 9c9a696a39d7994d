"""Letterbox and pillarbox bars: rows and columns black in nearly every sampled frame."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rect:
    """A rectangle in pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int


class BarDetector:
    """Counts, per row and column, the sampled frames in which it is black; one sample per `interval` s.

    A line is black when almost none of its pixels reach `black_luma` (compression noise in a bar stays
    far below it). Frames that are nearly all black (a fade, a night shot) say nothing about bars and
    are skipped.
    """

    def __init__(self, *, interval: float = 1.0, black_luma: int = 24, min_share: float = 0.95) -> None:
        self.interval = interval
        self.black_luma = black_luma
        self.min_share = min_share
        self._next = -math.inf
        self._rows: np.ndarray | None = None
        self._cols: np.ndarray | None = None
        self._samples = 0
        self._size: tuple[int, int] | None = None  # (w, h)

    def add(self, t: float, gray: np.ndarray) -> None:
        """Offer a frame; it is measured only when a sample is due."""
        if self._next - self.interval <= t < self._next:
            return
        self._next = (math.floor(t / self.interval) + 1) * self.interval
        lit = gray >= self.black_luma
        rows = lit.mean(axis=1) < 0.02
        cols = lit.mean(axis=0) < 0.02
        if rows.mean() > 0.9 or cols.mean() > 0.9:
            return
        if self._rows is None or self._cols is None or self._size != (gray.shape[1], gray.shape[0]):
            self._rows = np.zeros(gray.shape[0], dtype=np.int32)
            self._cols = np.zeros(gray.shape[1], dtype=np.int32)
            self._samples = 0
            self._size = (gray.shape[1], gray.shape[0])
        self._rows += rows
        self._cols += cols
        self._samples += 1

    def content(self) -> Rect | None:
        """The picture without its bars (even-aligned), or None before any usable sample."""
        if self._rows is None or self._cols is None or self._size is None or self._samples == 0:
            return None
        need = self.min_share * self._samples
        top, bottom = _bar_run(self._rows >= need)
        left, right = _bar_run(self._cols >= need)
        w, h = self._size
        # Round inwards to even numbers so the rectangle stays clear of the bars and suits 4:2:0 chroma.
        x0, y0 = even_up(left), even_up(top)
        x1, y1 = (w - right) // 2 * 2, (h - bottom) // 2 * 2
        if x1 - x0 < w // 4 or y1 - y0 < h // 4:  # a mostly dark picture, not bars
            return Rect(0, 0, w // 2 * 2, h // 2 * 2)
        return Rect(x0, y0, x1 - x0, y1 - y0)


def _bar_run(black: np.ndarray) -> tuple[int, int]:
    """Lengths of the black runs at the start and at the end of a line profile."""
    lit = np.flatnonzero(~black)
    if len(lit) == 0:
        return 0, 0
    return int(lit[0]), int(len(black) - 1 - lit[-1])


def even_up(v: float) -> int:
    """The smallest even integer at or above `v`: where a 4:2:0 picture's crop may start."""
    n = math.ceil(v)
    return n + (n % 2)
