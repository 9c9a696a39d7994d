"""Shot cuts (an adaptive content detector) and fades to and from black, streamed frame by frame.

A frame is a cut when its difference from the frame before is large in absolute terms and at least
`threshold` times the mean difference of its neighbours (PySceneDetect's AdaptiveDetector idea), so
steady fast motion, whose neighbours differ as much, is not a cut. A one- or two-frame flash passes
that ratio test, so a candidate must also leave the picture changed: the frame `window` frames later
still differs from each of the three frames before the candidate. Only `window + 4` frames are held.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.analysis.motion import FrameSteps, frame_difference


@dataclass(frozen=True)
class ShotParams:
    """Tuning of the detector; the defaults suit greyscale frames about 320 px wide."""

    threshold: float = 3.0  # a frame's difference over the mean of its neighbours'
    window: int = 2  # neighbours on each side
    min_difference: float = 12.0  # mean absolute luma difference (0–255) below which nothing is a cut
    min_shot_seconds: float = 0.6  # a cut closer than this to the previous one is ignored
    max_gap_seconds: float = 1.0  # a larger step in time (a decoded range ended) restarts detection
    gap_frames: float = 1.5  # so does a step of more frame intervals than this (ranges less than 1 s apart)
    black_luma: float = 20.0  # mean luma under which a frame is black
    min_fade_seconds: float = 0.25  # a shorter ramp to or from black is a cut, not a fade
    max_fade_seconds: float = 4.0
    min_fade_depth: float = 16.0  # the ramp's far end must be this much brighter than black


@dataclass(frozen=True)
class Fade:
    """A gradual transition: a luma ramp down to black (`out`) or up from it (`in`)."""

    start: float
    end: float
    kind: Literal["in", "out"]


_RAMP_EPS = 0.2  # luma change per frame that counts as rising or falling
_MAX_FLAT = 2  # frames a ramp may stall (duplicated frames) before it ends


class ShotDetector:
    """Accumulates cuts and fades over frames fed in time order (gaps allowed: nothing is compared across one)."""

    def __init__(self, params: ShotParams | None = None) -> None:
        self.params = params or ShotParams()
        # The candidate's three predecessors, itself and its right window; the left window fits inside.
        held = max(2 * self.params.window + 1, self.params.window + 4)
        self._frames: deque[tuple[float, np.ndarray]] = deque(maxlen=held)
        self._diffs: deque[float | None] = deque(maxlen=held)
        self._cuts: list[float] = []
        self._fades: list[Fade] = []
        self._luma: deque[tuple[float, float]] = deque()  # (t, mean luma) over the last max_fade_seconds
        self._rising: tuple[float, float, float, int] | None = None  # (start, last t, last luma, flat run)
        self._steps = FrameSteps(tolerance=self.params.gap_frames, max_step=self.params.max_gap_seconds)

    @property
    def cuts(self) -> tuple[float, ...]:
        """Times of the first frame of each new shot, in order."""
        return tuple(self._cuts)

    @property
    def fades(self) -> tuple[Fade, ...]:
        """Fades found so far (call `finish` first for a fade-in still open at the end)."""
        return tuple(self._fades)

    def add(self, t: float, gray: np.ndarray) -> float | None:
        """Feed one frame; return its difference from the previous frame (None after a gap)."""
        if not self._steps.follows(t) and self._frames:
            self._restart()
        diff = frame_difference(self._frames[-1][1], gray) if self._frames else None
        self._frames.append((t, gray))
        self._diffs.append(diff)
        self._judge_candidate()
        self._track_fades(t, float(gray.mean()))
        return diff

    def finish(self) -> None:
        """Close a fade-in that is still rising at the end of the input."""
        self._close_rising()

    def _restart(self) -> None:
        self._close_rising()
        self._frames.clear()
        self._diffs.clear()
        self._luma.clear()

    def _judge_candidate(self) -> None:
        p = self.params
        c = len(self._frames) - 1 - p.window  # the candidate has its whole right window by now
        if c < 1:
            return
        d = self._diffs[c]
        if d is None or d < p.min_difference:
            return
        neighbours = [x for k, x in enumerate(self._diffs) if k != c and abs(k - c) <= p.window and x is not None]
        mean = sum(neighbours) / len(neighbours)
        if d / max(mean, 0.5) < p.threshold:
            return
        after = self._frames[-1][1]
        before = [self._frames[k][1] for k in (c - 1, c - 2, c - 3) if k >= 0]
        # A flash ends with the picture back where it was; a cut leaves it changed.
        if min(frame_difference(b, after) for b in before) < max(p.min_difference, 0.5 * d):
            return
        t = self._frames[c][0]
        if not self._cuts or t - self._cuts[-1] >= p.min_shot_seconds:
            self._cuts.append(t)

    def _track_fades(self, t: float, luma: float) -> None:
        p = self.params
        was_black = bool(self._luma) and self._luma[-1][1] < p.black_luma
        is_black = luma < p.black_luma
        if is_black and self._luma and not was_black:
            self._close_rising()
            self._fade_out_to(t)
        elif is_black:
            self._rising = None
        elif was_black:
            self._rising = (self._luma[-1][0], t, luma, 0)
        elif self._rising is not None:
            self._continue_rising(t, luma)
        self._luma.append((t, luma))
        while t - self._luma[0][0] > p.max_fade_seconds:
            self._luma.popleft()

    def _fade_out_to(self, t_black: float) -> None:
        """Walk back from the first black frame along the luma ramp that led to it."""
        history = list(self._luma)
        k, flat, start = len(history) - 1, 0, len(history) - 1
        while k > 0:
            step = history[k - 1][1] - history[k][1]
            if step > _RAMP_EPS:
                flat, start = 0, k - 1
            elif abs(step) <= _RAMP_EPS and flat < _MAX_FLAT:
                flat += 1
            else:
                break
            k -= 1
        t0, top = history[start]
        if t_black - t0 >= self.params.min_fade_seconds and top >= self.params.black_luma + self.params.min_fade_depth:
            self._fades.append(Fade(t0, t_black, "out"))

    def _continue_rising(self, t: float, luma: float) -> None:
        assert self._rising is not None
        start, last_t, last_luma, flat = self._rising
        step = luma - last_luma
        if step > _RAMP_EPS and t - start <= self.params.max_fade_seconds:
            self._rising = (start, t, luma, 0)
        elif abs(step) <= _RAMP_EPS and flat < _MAX_FLAT:
            self._rising = (start, last_t, last_luma, flat + 1)
        else:
            self._close_rising()

    def _close_rising(self) -> None:
        if self._rising is None:
            return
        start, end, top, _ = self._rising
        self._rising = None
        if end - start >= self.params.min_fade_seconds and top >= self.params.black_luma + self.params.min_fade_depth:
            self._fades.append(Fade(start, end, "in"))
