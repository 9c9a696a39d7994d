"""A crop path for another aspect ratio: per shot, its subject framed by a steady or smoothly panning camera.

Who or what is framed, turn by turn, is `subject.py`; the window keeps one size for the clip
(`crop_window.py`). A subject that moves less than 30 % of the crop gets a steady camera; one that moves
more is followed with a dead zone, a speed limit and at most one reversal a second. The camera moves
hard only at a cut or a turn: it cuts (never pans) to the next speaker when both do not fit in the window.
"""

from __future__ import annotations

import numpy as np

from app.analysis.camera import CameraLimits, follow, simplify
from app.analysis.crop_window import CropGeometry, crop_size, picture_scale, source_content, split_size
from app.analysis.features import SourceFeatures
from app.analysis.speaker import Turn
from app.analysis.subject import clip_speech, nearest, previous_speaker, shot_turns, subject_points, track
from app.analysis.tracks import FaceTrack
from app.domain.crop import CropKey, CropPath
from app.domain.spec import Framing

STEADY_SHARE = 0.30  # subject travel, as a share of the crop, under which the camera stays put
FACE_HEIGHT = 0.4  # the face centre sits this far down the crop when the crop can move vertically


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
    geo = CropGeometry(w, h, content, picture_scale(features, source_size), source_size)
    keyframes: list[CropKey] = []
    previous: FaceTrack | None = None
    speech = clip_speech(features)
    for a, b in shots(features, start, end):
        before: int | None = None
        for turn in shot_turns(features, a, b, framing, previous, geo, speech):
            keyframes += _camera(features, turn, geo, previous_speaker(features, turn, before, geo))
            if turn.track is not None:
                previous, before = track(features, turn.track), turn.track
    return CropPath(w=w, h=h, keyframes=tuple(keyframes))


def reframe_split(
    features: SourceFeatures, start: float, end: float, *, source_size: tuple[int, int], sar: float = 1.0
) -> tuple[CropPath, CropPath] | None:
    """Two 9:8 paths (top, bottom) each on one of two people who both speak in the clip; None otherwise."""
    content = source_content(features, source_size)
    w, h = split_size(content, sar)
    geo = CropGeometry(w, h, content, picture_scale(features, source_size), source_size)
    spoken: dict[int, float] = {}
    speech = clip_speech(features)
    for a, b in shots(features, start, end):
        for turn in shot_turns(features, a, b, "speaker", None, geo, speech):
            if turn.why == "speaker" and turn.track is not None:
                spoken[turn.track] = spoken.get(turn.track, 0.0) + turn.end - turn.start
    people = sorted((t for t, s in spoken.items() if s >= 1.0), key=lambda t: -spoken[t])[:2]
    if len(people) < 2:
        return None
    paths = []
    for person in sorted(people, key=lambda t: track(features, t).start):
        anchor = track(features, person)
        keyframes: list[CropKey] = []
        for a, b in shots(features, start, end):
            same = nearest(features, a, b, anchor)
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


def _camera(features: SourceFeatures, turn: Turn, geo: CropGeometry, pair: FaceTrack | None = None) -> list[CropKey]:
    """The keyframes of one turn: steady on the subject, or following it under the camera's limits."""
    a, b = turn.start, turn.end
    points = subject_points(features, turn, geo)
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


def _place(centre: float, size: int, low: float, high: float, share: float) -> float:
    """The window's near edge that puts `centre` at `share` of the window, clamped to [low, high]."""
    return min(max(centre - share * size, low), high)
