"""Who or what the crop frames over a shot, turn by turn, and where it is.

`framing="speaker"` splits each shot into turns (`speaker.turns`): the crop frames the track speaking,
holds while nobody speaks, and takes in the previous speaker too when both fit in the window.
`"largest"` frames the face with the most area (kept across a cut while it is nearly as big),
`"centre"` the middle. A shot with no face follows the motion; with no motion either, the middle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.analysis.crop_window import CropGeometry
from app.analysis.features import SourceFeatures
from app.analysis.speaker import Speech, Turn, turns
from app.analysis.tracks import FaceTrack
from app.domain.spec import Framing

MIN_TRACK_SUPPORT = 0.3  # share of a shot a track must span to be framed when another face spans more
KEEP_SUBJECT = 0.6  # the previous shot's subject stays framed while it has this share of the best's area
PAIR_SHARE = 0.8  # two faces whose centres lie within this share of the crop's width are framed together


def shot_turns(
    features: SourceFeatures,
    a: float,
    b: float,
    framing: Framing,
    previous: FaceTrack | None,
    geo: CropGeometry,
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


def clip_speech(features: SourceFeatures) -> Speech:
    """What the audio says about speech, built once per clip (it reads the source's level series once)."""
    return Speech(features.has_audio, features.pauses, features.balance, features.fine_level)


def previous_speaker(features: SourceFeatures, turn: Turn, before: int | None, geo: CropGeometry) -> FaceTrack | None:
    """The shot's previous speaker when the crop can hold both faces: the framing widens rather than cuts."""
    if before is None or turn.track is None or before == turn.track:
        return None
    one, other = track(features, turn.track), track(features, before)
    t = (turn.start + turn.end) / 2
    a, b = one.box_at(t), other.box_at(t)
    span = (max(a.x + a.w, b.x + b.w) - min(a.x, b.x)) * geo.to_source[0]
    return other if span <= PAIR_SHARE * geo.w else None


def nearest(features: SourceFeatures, a: float, b: float, anchor: FaceTrack) -> FaceTrack | None:
    """The track of [a, b) nearest to where `anchor` sat: the same person in the shot."""
    x = anchor.boxes[len(anchor.boxes) // 2].centre[0]
    tracks = _supported(features, a, b)
    return min(tracks, key=lambda tr: abs(tr.boxes[0].centre[0] - x), default=None)


def track(features: SourceFeatures, track_id: int) -> FaceTrack:
    """The face track with this id."""
    return next(tr for tr in features.face_tracks if tr.id == track_id)


def subject_points(features: SourceFeatures, turn: Turn, geo: CropGeometry) -> list[tuple[float, float, float]]:
    """(t, x, y) in source pixels of what the turn frames."""
    a, b, c = turn.start, turn.end, geo.content
    sx, sy = geo.to_source
    if turn.track is None:
        if turn.why == "motion":
            return _motion(features, a, b, geo) or [(a, c.x + c.w / 2, c.y + c.h / 2)]
        return [(a, c.x + c.w / 2, c.y + c.h / 2)]
    framed = track(features, turn.track)
    boxes = [framed.box_at(a), *(bx for bx in framed.boxes if a < bx.t < b), framed.box_at(b)]
    return [(bx.t, bx.centre[0] * sx, bx.centre[1] * sy) for bx in boxes]


def _supported(features: SourceFeatures, a: float, b: float) -> list[FaceTrack]:
    """Tracks of the shot; when some span MIN_TRACK_SUPPORT of it, only those (the only face always counts)."""
    tracks = [tr for tr in features.face_tracks if tr.start < b and tr.end >= a]
    span = max(b - a, 1e-6)
    long = [
        tr for tr in tracks if (min(tr.end, b) - max(tr.start, a) + features.face_interval) / span >= MIN_TRACK_SUPPORT
    ]
    return long or tracks


def _largest(tracks: Sequence[FaceTrack], previous: FaceTrack | None, geo: CropGeometry) -> FaceTrack:
    """The track with the most face area; the previous shot's subject when still there and nearly as big."""
    best = max(tracks, key=lambda tr: tr.area())
    if previous is not None:
        px = previous.boxes[-1].centre[0] * geo.to_source[0]
        for tr in tracks:
            close = abs(tr.boxes[0].centre[0] * geo.to_source[0] - px) < 0.1 * geo.content.w
            if close and tr.area() >= KEEP_SUBJECT * best.area():
                return tr  # hysteresis: the same person stays framed across a cut
    return best


def _motion(features: SourceFeatures, a: float, b: float, geo: CropGeometry) -> list[tuple[float, float, float]]:
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
