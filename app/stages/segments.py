"""The rules that turn highlight ranges into the reel's clips: pure functions, no I/O.

Rules, in order (the README documents them):
1. Clamp each range to the source; drop ranges left empty.
2. Widen a clip shorter than 15 s around its centre, within the source; cut one longer than
   60 s to its first 60 s (the client's start is deliberate; the tail is what goes).
3. Merge clips that overlap or touch (score = the higher; transition = the earlier clip's),
   then apply rule 2 again: merging can make a clip too long.
4. Keep at most 5 clips, highest score first (earlier first on ties); play them in source order.
A source shorter than 15 s gives one clip: all of it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from app.spec import Highlight, Transition

MIN_CLIP_SECONDS = 15.0
MAX_CLIP_SECONDS = 60.0
MAX_CLIPS = 5
AUTO_CLIP_SECONDS = 30.0


@dataclass(frozen=True)
class Clip:
    """A range of the source to put in the reel."""

    start: float
    end: float
    score: float
    transition: Transition

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start


def plan_clips(highlights: Sequence[Highlight], source_duration: float) -> list[Clip]:
    """Apply the rules above to the client's highlights."""
    if source_duration < MIN_CLIP_SECONDS:
        best = max(highlights, key=lambda h: h.score, default=None)
        return [Clip(0.0, source_duration, best.score if best else 0.5, best.transition if best else "fade")]
    clips = [Clip(max(0.0, h.start_time), min(h.end_time, source_duration), h.score, h.transition) for h in highlights]
    clips = [_fit(c, source_duration) for c in clips if c.end > c.start]
    clips = [_fit(c, source_duration) for c in _merge(sorted(clips, key=lambda c: c.start))]
    clips = _merge(sorted(clips, key=lambda c: c.start))  # a cut never creates an overlap; a widen can
    kept = sorted(clips, key=lambda c: (-c.score, c.start))[:MAX_CLIPS]
    return sorted(kept, key=lambda c: c.start)


def _fit(clip: Clip, source_duration: float) -> Clip:
    if clip.duration > MAX_CLIP_SECONDS:
        return replace(clip, end=clip.start + MAX_CLIP_SECONDS)
    if clip.duration < MIN_CLIP_SECONDS:
        centre = (clip.start + clip.end) / 2
        start = min(max(0.0, centre - MIN_CLIP_SECONDS / 2), source_duration - MIN_CLIP_SECONDS)
        return replace(clip, start=start, end=start + MIN_CLIP_SECONDS)
    return clip


def _merge(clips: Sequence[Clip]) -> list[Clip]:
    merged: list[Clip] = []
    for clip in clips:
        if merged and clip.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = replace(last, end=max(last.end, clip.end), score=max(last.score, clip.score))
        else:
            merged.append(clip)
    if any(c.duration > MAX_CLIP_SECONDS for c in merged):
        merged = [replace(c, end=c.start + MAX_CLIP_SECONDS) if c.duration > MAX_CLIP_SECONDS else c for c in merged]
    return merged


def auto_clips(curve: Sequence[tuple[float, float]], source_duration: float) -> list[Clip]:
    """Pick clips without client highlights: the loudest stretches of the loudness envelope.

    One clip per started minute of source, at most 5, each AUTO_CLIP_SECONDS long (the whole
    source when it is shorter than a minute). Without audio the clips are spread evenly.
    """
    if source_duration <= MAX_CLIP_SECONDS:
        return (
            plan_clips([], source_duration)
            if source_duration < MIN_CLIP_SECONDS
            else [Clip(0.0, source_duration, 0.5, "fade")]
        )
    count = min(MAX_CLIPS, max(1, int(source_duration // 60)))
    length = AUTO_CLIP_SECONDS
    audible = [(t, v) for t, v in curve if v > -69.0]
    if not audible:
        step = source_duration / count
        return [Clip(i * step + (step - length) / 2, i * step + (step + length) / 2, 0.5, "fade") for i in range(count)]
    chosen: list[Clip] = []
    candidates = sorted(_windows(curve, source_duration, length), key=lambda c: -c.score)
    for cand in candidates:
        if len(chosen) == count:
            break
        if all(cand.end <= c.start or cand.start >= c.end for c in chosen):
            chosen.append(cand)
    return sorted(chosen, key=lambda c: c.start)


def _windows(curve: Sequence[tuple[float, float]], source_duration: float, length: float) -> list[Clip]:
    # Energy-average each window (loudness is logarithmic: average power, not dB); prefix sums
    # keep this linear in the length of the curve.
    times = [t for t, _ in curve]
    prefix = [0.0]
    for _, v in curve:
        prefix.append(prefix[-1] + 10 ** (v / 10))
    windows: list[Clip] = []
    hop = 2.5
    start = 0.0
    while start + length <= source_duration:
        lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, start + length)
        if hi > lo:
            mean_power = (prefix[hi] - prefix[lo]) / (hi - lo)
            lufs = 10 * math.log10(mean_power) if mean_power > 0 else -70.0
            score = min(1.0, max(0.0, (lufs + 50.0) / 40.0))
            windows.append(Clip(start, start + length, round(score, 3), "fade"))
        start += hop
    return windows
