"""One accumulator over a source's frames and PCM, and the features it ends with.

Everything is reduced as it streams: per-second aggregates, cut times, pauses and face samples; the
only frames held are the shot detector's few. Frames only, audio only, both, and time ranges with
gaps between them all work. The accumulator pickles (the VAD rebuilds itself); the features
serialise to JSON for the analyze stage's checkpoint.
"""

from __future__ import annotations

import base64
import json
import math
import time
import zlib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from app.analysis.balance import BalanceMeter
from app.analysis.bars import BarDetector, Rect
from app.analysis.face_detector import INPUT_AREA, QUICK_AREA, detect_faces
from app.analysis.level import LevelMeter
from app.analysis.motion import FrameSteps, MotionCentre, MotionMeter
from app.analysis.shots import Fade, ShotDetector, ShotParams
from app.analysis.speech import Pause, SpeechDetector
from app.analysis.tracks import FaceBox, FaceTrack, FaceTracker


@dataclass(frozen=True, eq=False)
class SourceFeatures:
    """What the analysers found, on a 1 s grid (index i covers [i, i+1) s) plus event lists.

    Grid values are NaN where that second was not analysed (no audio, no frames, a gap between
    decoded ranges). `content` is in analysis-frame pixels (`frame_size`), face tracks in picture
    pixels (`picture_size`); both are display-shaped (anamorphic pixels counted as shown).
    """

    duration: float
    frame_size: tuple[int, int] | None  # (w, h) of the analysed frames; None without video
    has_audio: bool
    loudness: np.ndarray  # dB of the mean square (full scale = 0)
    speech: np.ndarray  # fraction of 30 ms frames with speech
    motion: np.ndarray  # median frame difference, luma levels
    cut_density: np.ndarray  # cuts starting in that second
    faces: np.ndarray  # fraction of face samples showing a face
    cuts: tuple[float, ...]
    fades: tuple[Fade, ...]
    pauses: tuple[Pause, ...]
    face_tracks: tuple[FaceTrack, ...]
    face_interval: float  # seconds between face detections
    content: Rect | None  # the picture without black bars
    fine_level: bytes = b""  # audio level per 10 ms from 0 s, one `level.fine_code` a step; empty without audio
    picture_size: tuple[int, int] | None = None  # (w, h) of the pictures faces were found on
    balance: np.ndarray | None = None  # stereo balance, left minus right dB per balance.STEP; None: mono
    motion_centre: np.ndarray | None = None  # where things move (0 left – 1 right) per motion_interval
    motion_interval: float = 0.5

    @property
    def has_video(self) -> bool:
        """Whether any frame was analysed."""
        return self.frame_size is not None

    def to_json(self) -> str:
        """Compact JSON (NaN as null) that `from_json` reads back."""
        grids = {name: _grid_out(getattr(self, name)) for name in _GRIDS}
        return json.dumps(
            {
                "duration": self.duration,
                "frame_size": self.frame_size,
                "has_audio": self.has_audio,
                **grids,
                "cuts": [round(t, 3) for t in self.cuts],
                "fades": [[f.start, f.end, f.kind] for f in self.fades],
                "pauses": [[round(p.start, 3), round(p.end, 3)] for p in self.pauses],
                "face_tracks": [_track_out(tr) for tr in self.face_tracks],
                "face_interval": self.face_interval,
                "content": None if self.content is None else [*vars(self.content).values()],
                "fine_level": base64.b64encode(zlib.compress(self.fine_level, 6)).decode("ascii"),
                "picture_size": self.picture_size,
                "balance": None if self.balance is None else _grid_out(self.balance),
                "motion_centre": None if self.motion_centre is None else _grid_out(self.motion_centre),
                "motion_interval": self.motion_interval,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> SourceFeatures:
        """Rebuild features written by `to_json`."""
        d: dict[str, Any] = json.loads(text)
        return cls(
            duration=float(d["duration"]),
            frame_size=None if d["frame_size"] is None else (int(d["frame_size"][0]), int(d["frame_size"][1])),
            has_audio=bool(d["has_audio"]),
            **{name: _grid_in(d[name]) for name in _GRIDS},
            cuts=tuple(float(t) for t in d["cuts"]),
            fades=tuple(Fade(float(a), float(b), k) for a, b, k in d["fades"]),
            pauses=tuple(Pause(float(a), float(b)) for a, b in d["pauses"]),
            face_tracks=tuple(_track_in(tr) for tr in d["face_tracks"]),
            face_interval=float(d["face_interval"]),
            content=None if d["content"] is None else Rect(*d["content"]),
            fine_level=zlib.decompress(base64.b64decode(d["fine_level"])) if d.get("fine_level") else b"",
            picture_size=None if d["picture_size"] is None else (int(d["picture_size"][0]), int(d["picture_size"][1])),
            balance=None if d["balance"] is None else _grid_in(d["balance"]),
            motion_centre=None if d["motion_centre"] is None else _grid_in(d["motion_centre"]),
            motion_interval=float(d["motion_interval"]),
        )


_GRIDS = ("loudness", "speech", "motion", "cut_density", "faces")


# Every this many detections one runs at face_detector.INPUT_AREA (faces from 5 % of the frame height, 56 ms), the
# others at QUICK_AREA (from 10 %, 19 ms): 31 ms a detection on average on onnxruntime (82 on OpenCV's dnn, when
# this was chosen to keep the whole analysis of a 1080p source within 0.2x its duration on 2 cores: bench/README.md,
# "Analysis decode benchmark"). A track bridges the gap between two detections that can see a small face.
SMALL_FACE_EVERY = 3


class SourceAnalyser:
    """Feed frames (`add_frame`), pictures (`add_picture`) and PCM (`add_audio`, `add_channels`) in time order.

    Then call `result` once. Small grey frames serve shots, motion and bars; the larger colour pictures
    serve the face detector (every `face_interval` seconds, every SMALL_FACE_EVERY-th time at the size that finds
    the smallest faces unless `small_faces` is off) and the face tracks' mouth motion (every picture).
    """

    def __init__(
        self,
        *,
        face_interval: float = 0.5,
        small_faces: bool = True,
        bar_interval: float = 1.0,
        shot_params: ShotParams | None = None,
        vad_threshold: float = 0.5,
    ) -> None:
        self._shots = ShotDetector(shot_params)
        self._motion = MotionMeter()
        self.face_interval = face_interval
        self._small_faces = small_faces
        self._next_detection = -math.inf
        self._detections = 0  # every SMALL_FACE_EVERY-th one looks for the smallest faces too
        self._face_counts: dict[int, list[int]] = {}  # second -> [detections with a face, detections]
        self._tracker = FaceTracker(max_miss=max(1.5, (SMALL_FACE_EVERY + 0.5) * face_interval))
        self._picture_size: tuple[int, int] | None = None
        self._motion_centre = MotionCentre()
        self._balance: BalanceMeter | None = None
        self._bars = BarDetector(interval=bar_interval)
        self._speech = SpeechDetector(threshold=vad_threshold)
        self._level = LevelMeter()
        self._frames_per_second: dict[int, int] = {}
        self._frame_size: tuple[int, int] | None = None
        self._video_end = 0.0
        self._step = 0.0  # the last interval between frames, to give the last frame its length
        self._steps = FrameSteps()
        self.seconds: dict[str, float] = {}  # CPU seconds spent in each analyser: where analysis time goes

    def add_frame(self, t: float, gray: np.ndarray) -> None:
        """One greyscale uint8 frame (h, w) shown at `t` seconds."""
        if self._steps.follows(t):  # a step across a gap between ranges is no frame's length
            self._step = t - self._video_end
        self._video_end = t
        self._frame_size = (int(gray.shape[1]), int(gray.shape[0]))
        second = math.floor(t)
        self._frames_per_second[second] = self._frames_per_second.get(second, 0) + 1
        clock = time.thread_time()
        difference = self._shots.add(t, gray)
        if difference is not None:
            self._motion.add_difference(t, difference)
        self._motion_centre.add(t, gray)
        clock = self._spent("shots+motion", clock)
        self._bars.add(t, gray)
        self._spent("bars", clock)

    def add_picture(self, t: float, picture: np.ndarray) -> None:
        """One BGR uint8 picture (h, w, 3) shown at `t`: faces when a detection is due, mouths always."""
        self._picture_size = (int(picture.shape[1]), int(picture.shape[0]))
        clock = time.thread_time()
        if not self._next_detection - self.face_interval - 1e-6 <= t < self._next_detection - 1e-6:
            # Detection times on the interval grid keep the sampling independent of where a range starts.
            self._next_detection = (math.floor(t / self.face_interval + 1e-6) + 1) * self.face_interval
            faces = detect_faces(picture, area=INPUT_AREA if self._small_due() else QUICK_AREA)
            self._detections += 1
            self._tracker.detected(t, faces)
            # A detection speaks for the seconds until the next one: sparse detections still fill the grid.
            for second in range(math.floor(t), math.floor(t + self.face_interval - 1e-6) + 1):
                counts = self._face_counts.setdefault(second, [0, 0])
                counts[0] += bool(faces)
                counts[1] += 1
            clock = self._spent("faces", clock)
        self._tracker.picture(t, cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY))
        self._spent("mouths", clock)

    def _small_due(self) -> bool:
        return self._small_faces and self._detections % SMALL_FACE_EVERY == 0

    def add_channels(self, pcm: np.ndarray, t: float | None = None) -> None:
        """Stereo int16 PCM (n, 2) at 16 kHz, for the balance between the channels."""
        clock = time.thread_time()
        if self._balance is None:
            self._balance = BalanceMeter()
        self._balance.add(pcm, t)
        self._spent("balance", clock)

    def add_audio(self, pcm: np.ndarray, t: float | None = None) -> None:
        """Mono int16 PCM at 16 kHz; `t` only when this chunk does not follow the previous one."""
        clock = time.thread_time()
        self._speech.add(pcm, t)
        clock = self._spent("speech", clock)
        self._level.add(pcm, t)
        self._spent("level", clock)

    def _spent(self, name: str, since: float) -> float:
        now = time.thread_time()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - since
        return now

    def result(self) -> SourceFeatures:
        """The features of everything fed so far (closes open fades and pauses)."""
        self._shots.finish()
        self._speech.finish()
        video_end = self._video_end + self._step if self._frame_size is not None else 0.0
        duration = max(video_end, self._level.end)
        n = math.ceil(duration - 1e-9) if duration > 0 else 0
        video = self._frames_per_second
        cut_counts: dict[int, float] = {s: 0.0 for s in video}
        for t in self._shots.cuts:
            cut_counts[math.floor(t)] = cut_counts.get(math.floor(t), 0.0) + 1.0
        return SourceFeatures(
            duration=duration,
            frame_size=self._frame_size,
            has_audio=self._level.end > 0,
            loudness=_grid(self._level.per_second(), n),
            speech=_grid(self._speech.per_second(), n),
            motion=_grid(self._motion.per_second(), n),
            cut_density=_grid(cut_counts, n),
            faces=_grid({s: found / total for s, (found, total) in self._face_counts.items()}, n),
            cuts=self._shots.cuts,
            fades=self._shots.fades,
            pauses=self._speech.pauses,
            face_tracks=self._tracker.tracks(self._shots.cuts),
            face_interval=self.face_interval,
            content=self._bars.content(),
            fine_level=self._level.fine(),
            picture_size=self._picture_size,
            balance=None if self._balance is None else self._balance.grid(duration),
            motion_centre=self._motion_centre.grid(duration),
            motion_interval=self._motion_centre.interval,
        )


def _grid(values: dict[int, float], n: int) -> np.ndarray:
    grid = np.full(n, np.nan, dtype=np.float64)
    for second, value in values.items():
        if 0 <= second < n:
            grid[second] = value
    grid.setflags(write=False)
    return grid


def _grid_out(grid: np.ndarray) -> list[float | None]:
    return [None if math.isnan(v) else round(float(v), 3) for v in grid]


def _grid_in(values: list[float | None]) -> np.ndarray:
    grid = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    grid.setflags(write=False)
    return grid


def _track_out(track: FaceTrack) -> list[Any]:
    boxes = [[b.t, round(b.x, 1), round(b.y, 1), round(b.w, 1), round(b.h, 1)] for b in track.boxes]
    return [track.id, boxes, list(track.mouth_times), list(track.mouth)]


def _track_in(data: list[Any]) -> FaceTrack:
    track_id, boxes, times, mouth = data
    return FaceTrack(
        int(track_id),
        tuple(FaceBox(*(float(v) for v in b)) for b in boxes),
        tuple(float(t) for t in times),
        tuple(float(m) for m in mouth),
    )
