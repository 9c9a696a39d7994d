"""A crop path for another aspect ratio: per shot a steady or smoothly panning camera on the subject.

The crop keeps one size for the clip (the largest window of the aspect inside the picture without
its bars). In each shot the subject is the face track with the most face area (larger and more
persistent), kept from the previous shot when it is still there and nearly as big, so two people
far apart never make the crop jump between them. A subject that moves less than 30 % of the crop
gets a steady camera; one that moves more is followed with a dead zone, a speed limit and at most
one reversal a second. The camera moves hard only at a cut. No face: the centre of the picture.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from app.analysis.bars import Rect
from app.analysis.camera import CameraLimits, follow, simplify
from app.analysis.features import SourceFeatures

ASPECTS: dict[str, tuple[int, int]] = {"9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5), "16:9": (16, 9)}
STEADY_SHARE = 0.30  # subject travel, as a share of the crop, under which the camera stays put
MIN_TRACK_SUPPORT = 0.3  # share of a shot's face samples a track needs to be the subject
KEEP_SUBJECT = 0.6  # the previous shot's subject stays framed while it has this share of the best's area
FACE_HEIGHT = 0.4  # the face centre sits this far down the crop when the crop can move vertically


@dataclass(frozen=True)
class Keyframe:
    """The crop window at time `t` (source seconds), in source pixels."""

    t: float
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class CropPath:
    """Keyframes in time order, linear between them; two at one time mark a cut (the later one holds)."""

    w: int
    h: int
    keyframes: tuple[Keyframe, ...]

    def at(self, t: float) -> tuple[float, float, int, int]:
        """The window (x, y, w, h) at time `t`: piecewise linear, right-continuous at cuts."""
        times = [k.t for k in self.keyframes]
        i = bisect.bisect_right(times, t) - 1
        if i < 0:
            first = self.keyframes[0]
            return float(first.x), float(first.y), self.w, self.h
        a = self.keyframes[i]
        if i + 1 >= len(self.keyframes):
            return float(a.x), float(a.y), self.w, self.h
        b = self.keyframes[i + 1]
        f = (t - a.t) / (b.t - a.t)
        return a.x + f * (b.x - a.x), a.y + f * (b.y - a.y), self.w, self.h

    def pieces(self) -> list[tuple[float, float, int, int, int, int]]:
        """Linear pieces (t0, t1, x0, x1, y0, y1) between distinct times, for render's expressions."""
        ks = self.keyframes
        return [(a.t, b.t, a.x, b.x, a.y, b.y) for a, b in zip(ks, ks[1:], strict=False) if b.t > a.t]


def crop_size(aspect: str, content: Rect) -> tuple[int, int]:
    """The largest even-sized window of `aspect` (e.g. "9:16") inside `content`."""
    aw, ah = ASPECTS[aspect]
    if content.w * ah > content.h * aw:  # content is wider than the aspect: full height
        h = content.h // 2 * 2
        w = min(content.w, round(h * aw / ah)) // 2 * 2
    else:
        w = content.w // 2 * 2
        h = min(content.h, round(w * ah / aw)) // 2 * 2
    return w, h


def source_content(features: SourceFeatures, source_size: tuple[int, int]) -> Rect:
    """The bar-free picture scaled from analysis pixels to source pixels (even-aligned, inwards)."""
    sw, sh = source_size
    if features.frame_size is None or features.content is None:
        return Rect(0, 0, sw // 2 * 2, sh // 2 * 2)
    sx, sy = sw / features.frame_size[0], sh / features.frame_size[1]
    c = features.content
    x0, y0 = _even_up(c.x * sx), _even_up(c.y * sy)
    x1, y1 = int((c.x + c.w) * sx) // 2 * 2, int((c.y + c.h) * sy) // 2 * 2
    return Rect(x0, y0, min(x1, sw) - x0, min(y1, sh) - y0)


def reframe(
    features: SourceFeatures, start: float, end: float, *, aspect: str, source_size: tuple[int, int]
) -> CropPath:
    """The crop path over [start, end] of the source for `aspect`, in source pixels."""
    content = source_content(features, source_size)
    w, h = crop_size(aspect, content)
    bounds = (content.x, content.y, content.x + content.w - w, content.y + content.h - h)
    limits = CameraLimits(dead_zone=0.05 * w, max_speed=0.5 * w)
    keyframes: list[Keyframe] = []
    subject: tuple[float, float] | None = None
    for a, b in _shots(features, start, end):
        track = _subject(features, a, b, source_size, subject)
        if track is None:
            points = [(a, content.x + content.w / 2, content.y + content.h / 2)]
            subject = None
        else:
            points = track
            subject = (track[-1][1], track[-1][2])
        xs = np.array([_place(p[1], w, bounds[0], bounds[2], 0.5) for p in points])
        ys = np.array([_place(p[2], h, bounds[1], bounds[3], FACE_HEIGHT) for p in points])
        ts = np.array([p[0] for p in points])
        if np.ptp(xs) < STEADY_SHARE * w and np.ptp(ys) < STEADY_SHARE * h:
            x, y = float(np.median(xs)), float(np.median(ys))
            path = [(a, x, y), (b, x, y)]
        else:
            path = simplify(follow(ts, xs, ys, a, b, (bounds[0], bounds[2]), (bounds[1], bounds[3]), limits))
        keyframes.extend(Keyframe(round(t, 3), round(x), round(y), w, h) for t, x, y in path)
    return CropPath(w=w, h=h, keyframes=tuple(keyframes))


def _shots(features: SourceFeatures, start: float, end: float) -> list[tuple[float, float]]:
    """The clip split at cuts and at the black of a fade-out: the only places a hard move may go."""
    marks = {t for t in features.cuts if start < t < end}
    marks |= {f.end for f in features.fades if f.kind == "out" and start < f.end < end}
    edges = [start, *sorted(marks), end]
    return list(zip(edges, edges[1:], strict=False))


def _subject(
    features: SourceFeatures,
    a: float,
    b: float,
    source_size: tuple[int, int],
    previous: tuple[float, float] | None,
) -> list[tuple[float, float, float]] | None:
    """The subject's (t, centre x, centre y) in source pixels over one shot, or None."""
    if features.frame_size is None:
        return None
    sx, sy = source_size[0] / features.frame_size[0], source_size[1] / features.frame_size[1]
    tracks: list[list[tuple[float, float, float, float]]] = []  # (t, cx, cy, area)
    for sample in features.face_samples:
        if not a <= sample.t < b:
            continue
        taken: set[int] = set()
        for x, y, bw, bh in sample.boxes:
            cx, cy, size = (x + bw / 2) * sx, (y + bh / 2) * sy, bw * sx
            reach = max(1.5 * size, 0.1 * source_size[0])
            near = [
                (abs(tr[-1][1] - cx) + abs(tr[-1][2] - cy), i)
                for i, tr in enumerate(tracks)
                if i not in taken and abs(tr[-1][1] - cx) + abs(tr[-1][2] - cy) < reach
            ]
            i = min(near)[1] if near else len(tracks)
            if i == len(tracks):
                tracks.append([])
            tracks[i].append((sample.t, cx, cy, bw * bh * sx * sy))
            taken.add(i)
    expected = max(1.0, (b - a) / features.face_interval)
    tracks = [tr for tr in tracks if len(tr) >= max(1.0, MIN_TRACK_SUPPORT * expected)]
    if not tracks:
        return None
    weight = [sum(p[3] for p in tr) for tr in tracks]
    best = int(np.argmax(weight))
    if previous is not None:
        for i, tr in enumerate(tracks):
            close = abs(tr[0][1] - previous[0]) < 0.1 * source_size[0]
            if close and weight[i] >= KEEP_SUBJECT * weight[best]:
                best = i  # hysteresis: the same person stays framed across a cut
                break
    return [(t, cx, cy) for t, cx, cy, _ in tracks[best]]


def _place(centre: float, size: int, low: float, high: float, share: float) -> float:
    """The window's near edge that puts `centre` at `share` of the window, clamped to [low, high]."""
    return min(max(centre - share * size, low), high)


def _even_up(v: float) -> int:
    n = int(np.ceil(v))
    return n + (n % 2)
