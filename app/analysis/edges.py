"""Where a clip may start or end: inside a pause (not mid-word) and clear of every shot cut.

When no pause is in reach of an edge, the edge goes to the quietest 100 ms it can reach (still
clear of cuts) and the result says so (`Edges.in_speech`), so the reel reports it instead of
pretending a word was not cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.analysis.features import SourceFeatures
from app.analysis.level import FINE_SECONDS, UNMEASURED
from app.domain.intervals import Interval, clamp, merge

CUT_CLEARANCE = 0.5  # seconds an edge keeps from a cut: no clip opens one frame before a new shot
PAUSE_MARGIN = 0.1  # an edge sits this far inside a pause when the pause is long enough

QUIET_WINDOW = 10  # steps of the fine level (100 ms) averaged when looking for the quietest place

EDGE_IN_SPEECH = "edge_in_speech"  # the reason a clip carries when an edge could not reach a pause


@dataclass(frozen=True)
class Edges:
    """A clip's snapped edges, and whether either had to stay in speech (no pause within reach)."""

    start: float
    end: float
    in_speech: bool = False


def edge_zones(features: SourceFeatures) -> tuple[list[Interval], list[Interval]]:
    """(preferred, fallback) zones for an edge: pauses clear of cuts; anywhere clear of cuts."""
    d = features.duration
    holes = merge((c - CUT_CLEARANCE, c + CUT_CLEARANCE) for c in features.cuts)
    anywhere = _subtract([(0.0, d)], holes)
    if features.has_audio:
        pauses = []
        for p in features.pauses:
            margin = min(PAUSE_MARGIN, p.duration / 2)
            pauses.append(clamp((p.start + margin, p.end - margin), 0.0, d))
        preferred = _subtract(merge(pauses), holes)
    else:
        preferred = anywhere  # nothing to cut in half without audio
    # The source's own ends are always fine edges.
    ends = [(0.0, 0.0), (d, d)]
    return sorted(preferred + ends), sorted(anywhere + ends)


def nearest_point(target: float, zones: Sequence[Interval], lo: float, hi: float) -> float | None:
    """The point of `zones` within [lo, hi] nearest to `target`, or None."""
    best: float | None = None
    for a, b in zones:
        a, b = max(a, lo), min(b, hi)
        if a > b:
            continue
        point = min(max(target, a), b)
        if best is None or abs(point - target) < abs(best - target):
            best = point
    return best


def snap_range(
    start: float, end: float, features: SourceFeatures, *, max_shift: float, min_len: float, max_len: float
) -> Edges:
    """Move each edge at most `max_shift` s into the best zone it can reach, length kept in [min_len, max_len]."""
    d = features.duration
    preferred, anywhere = edge_zones(features)
    lo, hi = max(0.0, start - max_shift), min(d, start + max_shift)
    s = nearest_point(start, preferred, lo, hi)
    start_ok = s is not None
    if s is None:
        s = quietest_point(start, anywhere, lo, hi, features)
    s = start if s is None else s
    lo, hi = max(end - max_shift, s + min_len), min(end + max_shift, s + max_len, d)
    if lo > hi:  # the length rules leave no room: keep the client's range, and say where it lies
        return Edges(float(start), float(end), not (_inside(start, preferred) and _inside(end, preferred)))
    e = nearest_point(end, preferred, lo, hi)
    end_ok = e is not None
    if e is None:
        e = quietest_point(end, anywhere, lo, hi, features)
    e = min(max(end, lo), hi) if e is None else e
    return Edges(round(float(s), 3), round(float(e), 3), not (start_ok and end_ok))


def quietest_point(
    target: float, zones: Sequence[Interval], lo: float, hi: float, features: SourceFeatures
) -> float | None:
    """The middle of the quietest 100 ms of audio within [lo, hi] and `zones` (nearest `target` on ties).

    Without a fine level (no audio, features from before it was kept) the nearest point of `zones`.
    """
    level = np.frombuffer(features.fine_level, dtype=np.uint8)
    first, last = int(np.ceil(lo / FINE_SECONDS)), int(hi / FINE_SECONDS)
    last = min(last, len(level) - 1)
    if last - first < 1:
        return nearest_point(target, zones, lo, hi)
    codes = level[max(0, first - QUIET_WINDOW // 2) : last + QUIET_WINDOW // 2 + 1].astype(np.float64)
    codes[codes == UNMEASURED] = np.nan
    # Codes grow as the level falls (0.5 dB a step): the quietest window has the largest mean.
    kernel = np.ones(QUIET_WINDOW) / QUIET_WINDOW
    mean = np.convolve(np.nan_to_num(codes, nan=0.0), kernel, mode="same")
    offset = max(0, first - QUIET_WINDOW // 2)
    best: tuple[float, float, float] | None = None
    for k in range(first, last + 1):
        t = k * FINE_SECONDS
        value = mean[k - offset]
        if not _inside(t, zones) or np.isnan(codes[k - offset]):
            continue
        key = (-value, abs(t - target), t)
        if best is None or key < best:
            best = key
    return nearest_point(target, zones, lo, hi) if best is None else best[2]


def _inside(t: float, zones: Sequence[Interval]) -> bool:
    return any(a - 1e-6 <= t <= b + 1e-6 for a, b in zones)


def _subtract(intervals: list[Interval], holes: list[Interval]) -> list[Interval]:
    """Parts of `intervals` outside every (open) hole; both sorted, holes merged."""
    out: list[Interval] = []
    k = 0
    for a, b in intervals:
        while k < len(holes) and holes[k][1] <= a:
            k += 1
        j, cursor = k, a
        while j < len(holes) and holes[j][0] < b:
            if holes[j][0] > cursor:
                out.append((cursor, holes[j][0]))
            cursor = max(cursor, holes[j][1])
            j += 1
        if cursor < b:
            out.append((cursor, b))
    return out


def snap_to_words(
    start: float,
    end: float,
    words: Sequence[tuple[float, float, bool]],
    features: SourceFeatures,
    *,
    max_shift: float,
    min_len: float,
    max_len: float,
) -> Edges | None:
    """Edges at the nearest sentence end in reach; else an edge already in a pause stays, and one in speech
    takes the nearest gap between words; None if an edge has none of these.

    `words` are (start, end, ends a sentence) in source seconds, in order, as a transcript heard them.
    A gap's point is halfway between its two words; after a last word that ends a sentence, 100 ms on.
    Points closer to a cut than CUT_CLEARANCE are not used. A real pause beats a word gap: word timings
    are approximate, and a 50 ms gap inside a phrase is a worse edge than the pause the picker found.
    """
    preferred, anywhere = edge_zones(features)
    sentences: list[float] = []
    gaps: list[float] = []
    for (_, a_end, a_stop), (b_start, _, _) in zip(words, words[1:], strict=False):
        point = (a_end + max(a_end, b_start)) / 2
        (sentences if a_stop else gaps).append(point)
    if words and words[-1][2]:
        sentences.append(words[-1][1] + 0.1)
    sentences = [p for p in sentences if _inside(p, anywhere)]
    gaps = [p for p in gaps if _inside(p, anywhere)]

    def ranked(target: float, lo: float, hi: float) -> list[float]:
        """Reachable points: sentence ends nearest first, then the edge itself when it is in a pause, else gaps."""
        fallback = [target] if _inside(target, preferred) else gaps
        return [
            p
            for points in (sentences, fallback)
            for p in sorted((q for q in points if lo <= q <= hi), key=lambda q: abs(q - target))
        ]

    d = features.duration
    for s in ranked(start, max(0.0, start - max_shift), min(d, start + max_shift)):
        ends = ranked(end, max(end - max_shift, s + min_len), min(end + max_shift, s + max_len, d))
        if ends:
            return Edges(round(s, 3), round(ends[0], 3))
    return None
