"""Face tracks: detections linked across samples, short misses bridged, and each face's mouth motion.

The detector runs on a few pictures a second; `FaceTracker` links each sample's faces to the tracks
alive (box overlap, or a centre within reach of where the face was), bridges up to `max_miss`
seconds without a detection (a turned head, a hand in front), and ends a track after that. On every
picture in between it measures the motion of each tracked face's mouth region against the same
region one picture earlier, less the motion of the upper face (so a head that moves is not a mouth
that talks). When the stream ends, tracks are split at shot cuts and those seen on fewer than
`min_detections` samples are dropped: a face that does not persist is a false detection or a
passer-by, not a subject.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from app.analysis.face_detector import Face


@dataclass(frozen=True)
class FaceBox:
    """A face on one sample of its track, in picture pixels (top-left corner and size)."""

    t: float
    x: float
    y: float
    w: float
    h: float

    @property
    def centre(self) -> tuple[float, float]:
        """The box's centre."""
        return self.x + self.w / 2, self.y + self.h / 2


@dataclass(frozen=True)
class FaceTrack:
    """One face followed through a shot: its detections and its mouth motion per picture."""

    id: int
    boxes: tuple[FaceBox, ...]
    mouth_times: tuple[float, ...] = ()
    mouth: tuple[float, ...] = ()  # mouth-region motion, luma levels, one per picture at `mouth_times`

    @property
    def start(self) -> float:
        """Time of the first detection."""
        return self.boxes[0].t

    @property
    def end(self) -> float:
        """Time of the last detection."""
        return self.boxes[-1].t

    def box_at(self, t: float) -> FaceBox:
        """The box at `t`: linear between detections, held before the first and after the last."""
        times = [b.t for b in self.boxes]
        if t <= times[0]:
            return self.boxes[0]
        if t >= times[-1]:
            return self.boxes[-1]
        i = int(np.searchsorted(times, t, side="right")) - 1
        a, b = self.boxes[i], self.boxes[i + 1]
        f = (t - a.t) / (b.t - a.t)
        return FaceBox(t, *(getattr(a, k) + f * (getattr(b, k) - getattr(a, k)) for k in ("x", "y", "w", "h")))

    def area(self) -> float:
        """Summed box area over the detections: larger and more persistent faces weigh more."""
        return sum(b.w * b.h for b in self.boxes)


@dataclass
class _Live:
    """A track being built."""

    id: int
    boxes: list[FaceBox]
    last_seen: float
    mouth_box: FaceBox
    mouth_times: list[float] = field(default_factory=list)
    mouth: list[float] = field(default_factory=list)


class FaceTracker:
    """Feed detections (`detected`) and pictures (`picture`) in time order; `tracks(cuts)` once at the end.

    `max_miss`: seconds a track survives without a detection (bridged by holding its last box).
    `min_detections`: detections a track needs to be kept.
    `reach`: how far, in face widths, a face may move between two samples and stay the same track.
    """

    def __init__(self, *, max_miss: float = 1.5, min_detections: int = 3, reach: float = 1.5) -> None:
        self.max_miss = max_miss
        self.min_detections = min_detections
        self.reach = reach
        self._live: list[_Live] = []
        self._done: list[_Live] = []
        self._ids = 0
        self._previous: tuple[float, np.ndarray] | None = None

    def detected(self, t: float, faces: Sequence[Face]) -> None:
        """The faces found on the sample at `t`."""
        self._retire(t)
        pairs = sorted(
            ((self._cost(live, face), i, j) for i, live in enumerate(self._live) for j, face in enumerate(faces)),
        )
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        for cost, i, j in pairs:
            if cost > 1.0 or i in used_tracks or j in used_faces:
                continue
            used_tracks.add(i)
            used_faces.add(j)
            self._extend(self._live[i], t, faces[j])
        for j, face in enumerate(faces):
            if j not in used_faces:
                box = FaceBox(t, face.x, face.y, face.w, face.h)
                self._live.append(_Live(self._ids, [box], t, box))
                self._ids += 1

    def picture(self, t: float, grey: np.ndarray) -> None:
        """One greyscale picture at `t`: each live track's mouth motion since the previous picture."""
        previous = self._previous
        self._previous = (t, grey)
        if previous is None or not 0 < t - previous[0] <= 0.25:
            return  # the first picture, or one after a gap between decoded ranges: nothing to compare
        for live in self._live:
            motion = mouth_motion(previous[1], grey, live.mouth_box)
            if motion is not None:
                live.mouth_times.append(round(t, 3))
                live.mouth.append(round(motion, 2))

    def tracks(self, cuts: Sequence[float] = ()) -> tuple[FaceTrack, ...]:
        """Every track kept, split at `cuts`, numbered in order of appearance."""
        built = sorted(self._done + self._live, key=lambda live: (live.boxes[0].t, live.id))
        out: list[FaceTrack] = []
        for live in built:
            for piece in _split(live, sorted(cuts)):
                if len(piece.boxes) >= self.min_detections:
                    out.append(FaceTrack(len(out), tuple(piece.boxes), tuple(piece.mouth_times), tuple(piece.mouth)))
        return tuple(out)

    def _retire(self, t: float) -> None:
        keep: list[_Live] = []
        for live in self._live:
            (keep if t - live.last_seen <= self.max_miss + 1e-6 else self._done).append(live)
        self._live = keep

    def _cost(self, live: _Live, face: Face) -> float:
        """0 for the same box, 1 at the edge of reach; above 1, not the same face."""
        last = live.boxes[-1]
        size = max(last.w, face.w)
        ratio = max(last.w, face.w) / max(1e-6, min(last.w, face.w))
        if ratio > 2.0:
            return math.inf
        lx, ly = last.centre
        fx, fy = face.x + face.w / 2, face.y + face.h / 2
        return math.hypot(fx - lx, fy - ly) / (self.reach * size)

    def _extend(self, live: _Live, t: float, face: Face) -> None:
        box = FaceBox(t, face.x, face.y, face.w, face.h)
        live.boxes.append(box)
        live.last_seen = t
        live.mouth_box = box if face.mouth is None else _around_mouth(box, face.mouth)


def mouth_motion(before: np.ndarray, after: np.ndarray, face: FaceBox) -> float | None:
    """Mean luma change of the mouth region less that of the upper face, 0 or more; None off the picture."""
    mouth = _region(after.shape, face, 0.2, 0.62, 0.8, 0.98)
    upper = _region(after.shape, face, 0.15, 0.15, 0.85, 0.45)
    if mouth is None or upper is None:
        return None
    return max(0.0, _change(before, after, mouth) - _change(before, after, upper))


def _change(before: np.ndarray, after: np.ndarray, region: tuple[slice, slice]) -> float:
    return float(np.abs(after[region].astype(np.int16) - before[region].astype(np.int16)).mean())


def _region(
    shape: tuple[int, ...], face: FaceBox, x0: float, y0: float, x1: float, y1: float
) -> tuple[slice, slice] | None:
    """The part of `face` between the given fractions of its box, clipped to the picture."""
    h, w = shape[:2]
    left, right = max(0, round(face.x + x0 * face.w)), min(w, round(face.x + x1 * face.w))
    top, bottom = max(0, round(face.y + y0 * face.h)), min(h, round(face.y + y1 * face.h))
    if right - left < 2 or bottom - top < 2:
        return None
    return slice(top, bottom), slice(left, right)


def _around_mouth(face: FaceBox, mouth: tuple[float, float]) -> FaceBox:
    """A face box shifted so its mouth region (see `mouth_motion`) is centred on the detector's mouth point."""
    mx, my = mouth
    return FaceBox(face.t, mx - 0.5 * face.w, my - 0.8 * face.h, face.w, face.h)


def _split(live: _Live, cuts: Sequence[float]) -> list[_Live]:
    """The track cut into one piece per shot."""
    pieces: list[_Live] = []
    edges = [c for c in cuts if live.boxes[0].t < c <= live.boxes[-1].t]
    bounds = [-math.inf, *edges, math.inf]
    for a, b in zip(bounds, bounds[1:], strict=False):
        boxes = [box for box in live.boxes if a <= box.t < b]
        if not boxes:
            continue
        idx = [k for k, t in enumerate(live.mouth_times) if a <= t < b]
        pieces.append(
            _Live(
                live.id,
                boxes,
                boxes[-1].t,
                boxes[-1],
                [live.mouth_times[k] for k in idx],
                [live.mouth[k] for k in idx],
            )
        )
    return pieces


def link(
    samples: Sequence[tuple[float, Sequence[Face]]], cuts: Sequence[float] = (), *, min_detections: int = 3
) -> tuple[FaceTrack, ...]:
    """Tracks from detections alone (no pictures, so no mouth motion): for tests and hand-built features."""
    tracker = FaceTracker(min_detections=min_detections)
    for t, faces in samples:
        tracker.detected(t, faces)
    return tracker.tracks(cuts)
