"""A crop path for another aspect ratio: per shot, the person speaking, framed by a steady or smoothly panning camera.

The crop keeps one size for the clip (the largest window of the aspect inside the picture without
its bars, in display shape: anamorphic pixels are counted as shown). Each shot is split into turns
(`speaker.turns`): the crop frames the track speaking, holds while nobody speaks, and cuts (never
pans) to the next speaker when both do not fit in the window. `framing="largest"` frames the face
with the most area instead (kept across a cut while it is nearly as big), `"centre"` the middle. A
shot with no face follows the motion; with no motion either, the middle. A subject that moves less
than 30 % of the crop gets a steady camera; one that moves more is followed with a dead zone, a
speed limit and at most one reversal a second. The camera moves hard only at a cut or a turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.analysis.bars import Rect
from app.analysis.camera import CameraLimits, follow, simplify
from app.analysis.features import SourceFeatures
from app.analysis.speaker import Speech, Turn, turns
from app.analysis.tracks import FaceTrack
from app.domain.crop import CropKey, CropPath

Framing = Literal["speaker", "largest", "centre"]
ASPECTS: dict[str, tuple[int, int]] = {"9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5), "16:9": (16, 9)}
HALF_ASPECT = (9, 8)  # each half of a split 9:16 reel
STEADY_SHARE = 0.30  # subject travel, as a share of the crop, under which the camera stays put
MIN_TRACK_SUPPORT = 0.3  # share of a shot a track must span to be framed when another face spans more
KEEP_SUBJECT = 0.6  # the previous shot's subject stays framed while it has this share of the best's area
FACE_HEIGHT = 0.4  # the face centre sits this far down the crop when the crop can move vertically
PAIR_SHARE = 0.8  # two faces whose centres lie within this share of the crop's width are framed together


@dataclass(frozen=True)
class _Geometry:
    """The crop's size and where its corner may go, and the scale from analysis to source pixels."""

    w: int
    h: int
    content: Rect
    to_source: tuple[float, float]  # source pixels per track (picture) pixel, x and y
    source: tuple[int, int]  # the source's stored size

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        c = self.content
        return c.x, c.y, c.x + c.w - self.w, c.y + c.h - self.h


def crop_size(aspect: str | tuple[int, int], content: Rect, sar: float = 1.0) -> tuple[int, int]:
    """The largest even-sized window inside `content` (stored pixels) that shows as `aspect` (e.g. "9:16")."""
    aw, ah = ASPECTS[aspect] if isinstance(aspect, str) else aspect
    if content.w * sar * ah > content.h * aw:  # content shows wider than the aspect: full height
        h = content.h // 2 * 2
        w = min(content.w, round(h * aw / ah / sar)) // 2 * 2
    else:
        w = content.w // 2 * 2
        h = min(content.h, round(w * sar * ah / aw)) // 2 * 2
    return w, h


def split_size(content: Rect, sar: float = 1.0) -> tuple[int, int]:
    """Each half's window in a split 9:16 reel: 9:8, at most half the picture's height (a closer shot)."""
    return crop_size(HALF_ASPECT, Rect(content.x, content.y, content.w, max(2, content.h // 2)), sar)


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
    features: SourceFeatures,
    start: float,
    end: float,
    *,
    aspect: str,
    source_size: tuple[int, int],
    sar: float = 1.0,
    framing: Framing = "speaker",
) -> CropPath:
    """The crop path over [start, end] of the source for `aspect`, in source pixels."""
    content = source_content(features, source_size)
    w, h = crop_size(aspect, content, sar)
    geo = _Geometry(w, h, content, _scale(features, source_size), source_size)
    keyframes: list[CropKey] = []
    previous: FaceTrack | None = None
    speech = _speech(features)
    for a, b in shots(features, start, end):
        before: int | None = None
        for turn in _turns(features, a, b, framing, previous, geo, speech):
            keyframes += _camera(features, turn, geo, _pair(features, turn, before, geo))
            if turn.track is not None:
                previous, before = _track(features, turn.track), turn.track
    return CropPath(w=w, h=h, keyframes=tuple(keyframes))


def reframe_split(
    features: SourceFeatures, start: float, end: float, *, source_size: tuple[int, int], sar: float = 1.0
) -> tuple[CropPath, CropPath] | None:
    """Two 9:8 paths (top, bottom) each on one of two people who both speak in the clip; None otherwise."""
    content = source_content(features, source_size)
    w, h = split_size(content, sar)
    geo = _Geometry(w, h, content, _scale(features, source_size), source_size)
    spoken: dict[int, float] = {}
    speech = _speech(features)
    for a, b in shots(features, start, end):
        for turn in _turns(features, a, b, "speaker", None, geo, speech):
            if turn.why == "speaker" and turn.track is not None:
                spoken[turn.track] = spoken.get(turn.track, 0.0) + turn.end - turn.start
    people = sorted((t for t, s in spoken.items() if s >= 1.0), key=lambda t: -spoken[t])[:2]
    if len(people) < 2:
        return None
    paths = []
    for person in sorted(people, key=lambda t: _track(features, t).start):
        anchor = _track(features, person)
        keyframes: list[CropKey] = []
        for a, b in shots(features, start, end):
            same = _nearest(features, a, b, anchor)
            turn = Turn(a, b, None if same is None else same.id, "speaker" if same is not None else "centre")
            keyframes += _camera(features, turn, geo)
        paths.append(CropPath(w=w, h=h, keyframes=tuple(keyframes)))
    return paths[0], paths[1]


def shots(features: SourceFeatures, start: float, end: float) -> list[tuple[float, float]]:
    """The clip split at cuts and at the black of a fade-out: the only places a hard move may go."""
    marks = {t for t in features.cuts if start < t < end}
    marks |= {f.end for f in features.fades if f.kind == "out" and start < f.end < end}
    edges = [start, *sorted(marks), end]
    return list(zip(edges, edges[1:], strict=False))


def _turns(
    features: SourceFeatures,
    a: float,
    b: float,
    framing: Framing,
    previous: FaceTrack | None,
    geo: _Geometry,
    speech: Speech,
) -> list[Turn]:
    """Who is framed over one shot, in turns."""
    if framing == "centre":
        return [Turn(a, b, None, "centre")]
    tracks = _supported(features, a, b)
    if not tracks:
        return [Turn(a, b, None, "motion" if _motion(features, a, b, geo) else "centre")]
    if framing == "largest":
        return [Turn(a, b, _largest(tracks, previous, geo).id, "largest")]
    assert features.picture_size is not None
    return turns(tracks, a, b, speech, features.picture_size[0])


def _speech(features: SourceFeatures) -> Speech:
    """What the audio says about speech, built once per clip (it reads the source's level series once)."""
    return Speech(features.has_audio, features.pauses, features.balance, features.fine_level)


def _supported(features: SourceFeatures, a: float, b: float) -> list[FaceTrack]:
    """Tracks of the shot; when some span MIN_TRACK_SUPPORT of it, only those (the only face always counts)."""
    tracks = [tr for tr in features.face_tracks if tr.start < b and tr.end >= a]
    span = max(b - a, 1e-6)
    long = [
        tr for tr in tracks if (min(tr.end, b) - max(tr.start, a) + features.face_interval) / span >= MIN_TRACK_SUPPORT
    ]
    return long or tracks


def _largest(tracks: Sequence[FaceTrack], previous: FaceTrack | None, geo: _Geometry) -> FaceTrack:
    """The track with the most face area; the previous shot's subject when still there and nearly as big."""
    best = max(tracks, key=lambda tr: tr.area())
    if previous is not None:
        px = previous.boxes[-1].centre[0] * geo.to_source[0]
        for tr in tracks:
            close = abs(tr.boxes[0].centre[0] * geo.to_source[0] - px) < 0.1 * geo.content.w
            if close and tr.area() >= KEEP_SUBJECT * best.area():
                return tr  # hysteresis: the same person stays framed across a cut
    return best


def _pair(features: SourceFeatures, turn: Turn, before: int | None, geo: _Geometry) -> FaceTrack | None:
    """The shot's previous speaker when the crop can hold both faces: the framing widens rather than cuts."""
    if before is None or turn.track is None or before == turn.track:
        return None
    one, other = _track(features, turn.track), _track(features, before)
    t = (turn.start + turn.end) / 2
    a, b = one.box_at(t), other.box_at(t)
    span = (max(a.x + a.w, b.x + b.w) - min(a.x, b.x)) * geo.to_source[0]
    return other if span <= PAIR_SHARE * geo.w else None


def _camera(features: SourceFeatures, turn: Turn, geo: _Geometry, pair: FaceTrack | None = None) -> list[CropKey]:
    """The keyframes of one turn: steady on the subject, or following it under the camera's limits."""
    a, b = turn.start, turn.end
    points = _subject_points(features, turn, geo)
    if pair is not None:  # midway between the speaker and the one who spoke before
        sx, sy = geo.to_source
        points = [
            (t, (x + pair.box_at(t).centre[0] * sx) / 2, (y + pair.box_at(t).centre[1] * sy) / 2) for t, x, y in points
        ]
    x0, y0, x1, y1 = geo.bounds
    xs = np.array([_place(p[1], geo.w, x0, x1, 0.5) for p in points])
    ys = np.array([_place(p[2], geo.h, y0, y1, FACE_HEIGHT if turn.track is not None else 0.5) for p in points])
    ts = np.array([p[0] for p in points])
    if np.ptp(xs) < STEADY_SHARE * geo.w and np.ptp(ys) < STEADY_SHARE * geo.h:
        x, y = float(np.median(xs)), float(np.median(ys))
        path = [(a, x, y), (b, x, y)]
    else:
        limits = CameraLimits(dead_zone=0.05 * geo.w, max_speed=0.5 * geo.w)
        path = simplify(follow(ts, xs, ys, a, b, (x0, x1), (y0, y1), limits))
    return [CropKey(t=round(t, 3), x=round(x), y=round(y), track=turn.track, why=turn.why) for t, x, y in path]


def _subject_points(features: SourceFeatures, turn: Turn, geo: _Geometry) -> list[tuple[float, float, float]]:
    """(t, x, y) in source pixels of what the turn frames."""
    a, b, c = turn.start, turn.end, geo.content
    sx, sy = geo.to_source
    if turn.track is None:
        if turn.why == "motion":
            return _motion(features, a, b, geo) or [(a, c.x + c.w / 2, c.y + c.h / 2)]
        return [(a, c.x + c.w / 2, c.y + c.h / 2)]
    track = _track(features, turn.track)
    boxes = [track.box_at(a), *(bx for bx in track.boxes if a < bx.t < b), track.box_at(b)]
    return [(bx.t, bx.centre[0] * sx, bx.centre[1] * sy) for bx in boxes]


def _motion(features: SourceFeatures, a: float, b: float, geo: _Geometry) -> list[tuple[float, float, float]]:
    """Where things move over [a, b), in source pixels; empty when too little of the shot moves."""
    grid, step = features.motion_centre, features.motion_interval
    if grid is None or len(grid) == 0:
        return []
    first, last = max(0, int(a / step)), min(len(grid), int(np.ceil(b / step)))
    points = [
        (max(a, (i + 0.5) * step), float(grid[i]) * geo.source[0], geo.content.y + geo.content.h / 2)
        for i in range(first, last)
        if not np.isnan(grid[i])
    ]
    return points if len(points) >= max(2.0, 0.3 * (last - first)) else []


def _nearest(features: SourceFeatures, a: float, b: float, anchor: FaceTrack) -> FaceTrack | None:
    """The track of [a, b) nearest to where `anchor` sat: the same person in the shot."""
    x = anchor.boxes[len(anchor.boxes) // 2].centre[0]
    tracks = _supported(features, a, b)
    return min(tracks, key=lambda tr: abs(tr.boxes[0].centre[0] - x), default=None)


def _track(features: SourceFeatures, track_id: int) -> FaceTrack:
    return next(tr for tr in features.face_tracks if tr.id == track_id)


def _scale(features: SourceFeatures, source_size: tuple[int, int]) -> tuple[float, float]:
    size = features.picture_size or features.frame_size or source_size
    return source_size[0] / size[0], source_size[1] / size[1]


def _place(centre: float, size: int, low: float, high: float, share: float) -> float:
    """The window's near edge that puts `centre` at `share` of the window, clamped to [low, high]."""
    return min(max(centre - share * size, low), high)


def _even_up(v: float) -> int:
    n = int(np.ceil(v))
    return n + (n % 2)
