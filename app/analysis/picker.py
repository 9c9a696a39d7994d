"""Automatic highlights from a source's features, and clip edges snapped clear of words and cuts.

Each feature on the 1 s grid becomes a relative value r = x / (x + median), 0.5 at the source's own
median, so a talk show and a football match are judged against themselves. The per-second score is
the weighted mean of the features that were measured; a window's score is its mean. Windows are
chosen greedily, best first, without overlap, with a penalty near earlier picks so the reel spreads
over the source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from app.analysis.edges import EDGE_IN_SPEECH, Edges, snap_range
from app.analysis.features import SourceFeatures
from app.domain.clip_limits import MAX_CLIP_SECONDS, MAX_CLIPS, MIN_CLIP_SECONDS

PICK_SNAP = 3.0  # how far an automatic edge may move to reach a pause
CLIENT_SNAP = 1.5  # how far a client's edge may move (`snap_edges`)
_GAP = 2 * PICK_SNAP + 1.0  # between picks before snapping, so snapped picks cannot overlap
_SPREAD_PENALTY = 0.25
_WEAK = 0.35  # a window scoring under this share of the best is not picked
_GROW = 0.8  # a pick widens over neighbouring seconds scoring at least this share of its mean
_DULL = 0.1  # a pick scoring under this (silence, a still frame) keeps its base length

# Weight, and the floor under the median (so a source whose median is 0 still has a scale).
_FEATURES: dict[str, tuple[float, float]] = {
    "speech": (0.35, 0.05),
    "loudness": (0.15, 10 ** (-50 / 20)),  # amplitude, from dB
    "motion": (0.30, 1.0),  # luma levels per frame
    "faces": (0.15, 0.1),
    "cuts": (0.05, 0.05),  # cuts per second over 10 s
}


@dataclass(frozen=True)
class Pick:
    """An automatic highlight: its range, a score 0–1, the features that chose it, and its best moment."""

    start: float
    end: float
    score: float
    reasons: tuple[str, ...]
    peak: float | None = None  # source seconds of its best-scored second (the poster frame); None: its middle


def relative_features(features: SourceFeatures) -> dict[str, np.ndarray]:
    """Each measured feature per second as x / (x + the source's median); NaN where not measured."""
    raw = {
        "speech": features.speech,
        "loudness": np.power(10.0, features.loudness / 20.0),
        "motion": features.motion,
        "faces": features.faces,
        "cuts": _moving_mean(features.cut_density, 10),
    }
    out: dict[str, np.ndarray] = {}
    for name, x in raw.items():
        if len(x) == 0 or np.all(np.isnan(x)):
            continue
        scale = max(float(np.nanmedian(x)), _FEATURES[name][1])
        out[name] = x / (x + scale)
    return out


def second_scores(relative: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Weighted mean of the measured features per second (0–1; 0 where nothing was measured)."""
    total, weights = np.zeros(n), np.zeros(n)
    for name, r in relative.items():
        w = _FEATURES[name][0]
        ok = ~np.isnan(r)
        total[ok] += w * r[ok]
        weights[ok] += w
    return np.divide(total, weights, out=np.zeros(n), where=weights > 0)


def pick_highlights(features: SourceFeatures, *, max_duration: float = 300.0, max_clips: int = MAX_CLIPS) -> list[Pick]:
    """Up to `max_clips` non-overlapping clips of 15–60 s, total ≤ `max_duration`, in source order."""
    proposal = propose_highlights(features, max_duration=max_duration, max_clips=max_clips)
    return sorted(proposal.candidates[: proposal.keep], key=lambda p: p.start)


@dataclass(frozen=True)
class Proposal:
    """Candidate clips, best first: the reel keeps `keep` of them (the first `keep`, unless a ranker prefers others).

    Any `keep` of the candidates obey every rule of `pick_highlights`: they do not overlap, each is 15–60 s
    with edges in pauses clear of cuts, and together they fit `max_duration`.
    """

    candidates: list[Pick]
    keep: int


def propose_highlights(
    features: SourceFeatures, *, max_duration: float = 300.0, max_clips: int = MAX_CLIPS, candidates: int = 0
) -> Proposal:
    """The picker's windows in the order it prefers them, `candidates` of them at most (at least the reel's)."""
    duration = features.duration
    relative = relative_features(features)
    n = len(features.loudness)
    scores = second_scores(relative, n)
    if duration <= min(MAX_CLIP_SECONDS, max_duration):  # short enough to be its own highlight, and within the budget
        return Proposal([_pick(0.0, duration, scores, relative)], 1)
    count = max(1, min(max_clips, int(duration // 60), int(max_duration // MIN_CLIP_SECONDS)))
    length = float(min(MAX_CLIP_SECONDS, max(MIN_CLIP_SECONDS, min(30.0, max_duration / count))))
    window = int(length)
    starts = np.arange(0, max(1, int(math.floor(duration - length)) + 1))
    cumsum = np.concatenate([[0.0], np.cumsum(scores)])
    # Rounded so float noise in the cumulative sum cannot pick among equal windows.
    means = np.round((cumsum[np.minimum(starts + window, n)] - cumsum[starts]) / window, 6)
    spread = duration / (count + 1)
    longest = max(MIN_CLIP_SECONDS, min(MAX_CLIP_SECONDS, max_duration / count))  # so the reel stays within the budget
    chosen: list[tuple[int, int]] = []
    top = 0.0
    # Greedy, best first: the first `count` windows are the offline reel; later ones are only ever alternatives.
    for _ in range(max(count, candidates)):
        value = means.copy()
        for a, b in chosen:
            value[(starts < b + _GAP) & (starts + window > a - _GAP)] = -np.inf
            value -= _SPREAD_PENALTY * np.clip(1 - np.abs(starts + window / 2 - (a + b) / 2) / spread, 0, None)
        best = int(np.argmax(value))
        if not np.isfinite(value[best]) or (chosen and means[best] < _WEAK * top):
            break  # a window far weaker than the best would fill the reel with what the picker avoids
        top = max(top, float(means[best]))
        chosen.append(_grow(int(starts[best]), int(starts[best]) + window, scores, chosen, int(longest)))
    picks = []
    for a, b in chosen:
        edges = snap_range(a, b, features, max_shift=PICK_SNAP, min_len=MIN_CLIP_SECONDS, max_len=longest)
        pick = _pick(edges.start, edges.end, scores, relative)
        if edges.in_speech:
            pick = replace(pick, reasons=(*pick.reasons, EDGE_IN_SPEECH))
        picks.append(pick)
    return Proposal(picks, min(count, len(picks)))


def _grow(a: int, b: int, scores: np.ndarray, chosen: list[tuple[int, int]], limit: int) -> tuple[int, int]:
    """Widen a window over neighbouring seconds nearly as good as it, so one long scene is one clip."""
    target = _GROW * float(np.mean(scores[a:b]))

    def free(second: int) -> bool:
        return 0 <= second < len(scores) and all(not ca - _GAP <= second < cb + _GAP for ca, cb in chosen)

    while target >= _GROW * _DULL and b - a < limit:
        left = free(a - 1) and scores[a - 1] >= target
        right = free(b) and scores[b] >= target
        if not (left or right):
            break
        if right and (not left or scores[b] >= scores[a - 1]):
            b += 1
        else:
            a -= 1
    return a, b


def snap_edges(
    start: float,
    end: float,
    features: SourceFeatures,
    *,
    max_shift: float = CLIENT_SNAP,
    source_duration: float | None = None,
) -> Edges:
    """Nudge a client's clip edges (≤ `max_shift` s each) into pauses clear of cuts, keeping 15–60 s.

    `source_duration` is the whole source's length when `features` cover only ranges of it. `in_speech`
    says an edge found no pause in reach and sits at the quietest place it could reach instead.
    """
    if (source_duration or features.duration) <= MAX_CLIP_SECONDS or end - start <= 0:
        return Edges(start, end)
    length = end - start
    min_len, max_len = min(MIN_CLIP_SECONDS, length), max(MAX_CLIP_SECONDS, length)
    return snap_range(start, end, features, max_shift=max_shift, min_len=min_len, max_len=max_len)


def _pick(start: float, end: float, scores: np.ndarray, relative: dict[str, np.ndarray]) -> Pick:
    lo, hi = int(math.floor(start)), max(int(math.floor(start)) + 1, int(math.ceil(end)))
    score = float(np.mean(scores[lo:hi])) if hi <= len(scores) and lo < hi else 0.0
    contributions = []
    for name, r in relative.items():
        part = r[lo:hi]
        # A reason is a feature clearly above the source's median (x ≥ 1.5 × median gives r ≥ 0.6).
        if len(part) and not np.all(np.isnan(part)) and float(np.nanmean(part)) >= 0.6:
            contributions.append((_FEATURES[name][0] * float(np.nanmean(part)), name))
    reasons = tuple(name for _, name in sorted(contributions, reverse=True)) or ("spread",)
    score = round(min(1.0, max(0.0, score)), 3)
    return Pick(start=float(start), end=float(end), score=score, reasons=reasons, peak=_peak(start, end, scores))


def _peak(start: float, end: float, scores: np.ndarray) -> float | None:
    """The middle of the best-scored whole second inside the clip, clear of its first and last (the fades)."""
    lo, hi = int(math.ceil(start)) + 1, min(len(scores), int(math.floor(end)) - 1)
    if hi <= lo or float(np.ptp(scores[lo:hi])) == 0.0:
        return None  # nothing stands out: the middle will do
    return lo + int(np.argmax(scores[lo:hi])) + 0.5


def _moving_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean that ignores NaN and keeps NaN where the input was NaN."""
    if len(x) == 0:
        return x
    valid = ~np.isnan(x)
    kernel = np.ones(min(width, len(x)))  # "same" mode returns the longer of the two: never the kernel
    sums = np.convolve(np.where(valid, x, 0.0), kernel, mode="same")
    counts = np.convolve(valid.astype(float), kernel, mode="same")
    out = np.divide(sums, counts, out=np.full(len(x), np.nan), where=counts > 0)
    out[~valid] = np.nan
    return out
