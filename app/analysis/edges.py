"""Where a clip may start or end: inside a pause (not mid-word) and clear of every shot cut."""

from __future__ import annotations

from collections.abc import Sequence

from app.analysis.features import SourceFeatures

CUT_CLEARANCE = 0.5  # seconds an edge keeps from a cut: no clip opens one frame before a new shot
PAUSE_MARGIN = 0.1  # an edge sits this far inside a pause when the pause is long enough

Interval = tuple[float, float]


def edge_zones(features: SourceFeatures) -> tuple[list[Interval], list[Interval]]:
    """(preferred, fallback) zones for an edge: pauses clear of cuts; anywhere clear of cuts."""
    d = features.duration
    holes = _merge([(c - CUT_CLEARANCE, c + CUT_CLEARANCE) for c in features.cuts])
    anywhere = _subtract([(0.0, d)], holes)
    if features.has_audio:
        pauses = []
        for p in features.pauses:
            margin = min(PAUSE_MARGIN, p.duration / 2)
            pauses.append((max(0.0, p.start + margin), min(d, p.end - margin)))
        preferred = _subtract(_merge(pauses), holes)
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
) -> tuple[float, float]:
    """Move each edge at most `max_shift` s into the best zone it can reach, length kept in [min_len, max_len]."""
    d = features.duration
    tiers = edge_zones(features)
    new_start = _first_reachable(start, tiers, max(0.0, start - max_shift), min(d, start + max_shift))
    s = start if new_start is None else new_start
    lo, hi = max(end - max_shift, s + min_len), min(end + max_shift, s + max_len, d)
    if lo > hi:
        return float(start), float(end)
    new_end = _first_reachable(end, tiers, lo, hi)
    e = min(max(end, lo), hi) if new_end is None else new_end
    return round(float(s), 3), round(float(e), 3)


def _first_reachable(target: float, tiers: Sequence[Sequence[Interval]], lo: float, hi: float) -> float | None:
    for zones in tiers:
        point = nearest_point(target, zones, lo, hi)
        if point is not None:
            return point
    return None


def _merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] >= i[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


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
