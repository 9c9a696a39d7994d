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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from app.domain.clip_limits import MAX_CLIP_SECONDS, MAX_CLIPS, MIN_CLIP_SECONDS
from app.domain.intervals import Interval, clamp, merge_by
from app.domain.spec import Highlight, Transition


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
    clips = [Clip(*clamp((h.start_time, h.end_time), 0.0, source_duration), h.score, h.transition) for h in highlights]
    clips = [_fit(c, source_duration) for c in clips if c.end > c.start]
    clips = [_fit(c, source_duration) for c in _merge(clips)]
    clips = _merge(clips)  # a cut never creates an overlap; a widen can
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


def _merge(clips: Iterable[Clip]) -> list[Clip]:
    """Rule 3: clips that overlap or touch as one, in source order; a merged clip over the limit is cut."""
    merged = merge_by(clips, _span, _join)
    return [replace(c, end=c.start + MAX_CLIP_SECONDS) if c.duration > MAX_CLIP_SECONDS else c for c in merged]


def _span(clip: Clip) -> Interval:
    return clip.start, clip.end


def _join(earlier: Clip, later: Clip) -> Clip:
    return replace(earlier, end=max(earlier.end, later.end), score=max(earlier.score, later.score))
