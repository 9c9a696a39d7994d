"""Synthetic frames and hand-built features for the analysis unit tests."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from app.analysis.bars import Rect
from app.analysis.face_detector import Face
from app.analysis.features import SourceFeatures
from app.analysis.shots import Fade
from app.analysis.speech import Pause
from app.analysis.tracks import FaceTrack, link

Box = tuple[float, float, float, float]  # x, y, w, h

W, H = 320, 180


def texture(seed: int, w: int = W, h: int = H) -> np.ndarray:
    """A smooth random greyscale picture, mid-grey on average, different for every seed."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (h, w)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 6)
    smooth = (smooth - smooth.mean()) / (smooth.std() + 1e-6) * 45 + 120
    return np.clip(smooth, 30, 230).astype(np.uint8)


def jitter(frame: np.ndarray, rng: np.random.Generator, amount: int = 2) -> np.ndarray:
    """The frame with a little sensor noise, so consecutive frames never match exactly."""
    noisy = frame.astype(np.int16) + rng.integers(-amount, amount + 1, frame.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def grid(values: Sequence[float] | np.ndarray | float, n: int) -> np.ndarray:
    """A 1 s grid of `n` seconds from a sequence or a constant."""
    if isinstance(values, int | float):
        return np.full(n, float(values))
    arr = np.asarray(values, dtype=np.float64)
    assert len(arr) == n
    return arr


def features(
    duration: float,
    *,
    loudness: Sequence[float] | np.ndarray | float = -30.0,
    speech: Sequence[float] | np.ndarray | float = 0.0,
    motion: Sequence[float] | np.ndarray | float = 0.0,
    faces: Sequence[float] | np.ndarray | float = 0.0,
    cuts: Sequence[float] = (),
    pauses: Sequence[tuple[float, float]] = (),
    fades: Sequence[Fade] = (),
    face_samples: Sequence[tuple[float, Sequence[Box]]] = (),
    face_tracks: Sequence[FaceTrack] | None = None,
    balance: np.ndarray | None = None,
    motion_centre: np.ndarray | None = None,
    has_audio: bool = True,
    frame_size: tuple[int, int] | None = (W, H),
    content: Rect | None = None,
    face_interval: float = 0.5,
) -> SourceFeatures:
    """SourceFeatures as the analyser would produce them, from the given per-second values."""
    n = int(np.ceil(duration))
    cut_density = np.zeros(n)
    for t in cuts:
        cut_density[int(t)] += 1
    nan = np.full(n, np.nan)
    return SourceFeatures(
        duration=duration,
        frame_size=frame_size,
        has_audio=has_audio,
        loudness=grid(loudness, n) if has_audio else nan,
        speech=grid(speech, n) if has_audio else nan,
        motion=grid(motion, n) if frame_size else nan,
        cut_density=cut_density if frame_size else nan,
        faces=grid(faces, n) if frame_size else nan,
        cuts=tuple(cuts),
        fades=tuple(fades),
        pauses=tuple(Pause(a, b) for a, b in pauses),
        face_tracks=tuple(face_tracks) if face_tracks is not None else tracks_of(face_samples, cuts),
        face_interval=face_interval,
        picture_size=frame_size,
        balance=balance,
        motion_centre=motion_centre,
        content=content if content is not None else (Rect(0, 0, *frame_size) if frame_size else None),
    )


def tracks_of(samples: Sequence[tuple[float, Sequence[Box]]], cuts: Sequence[float] = ()) -> tuple[FaceTrack, ...]:
    """Face tracks linked from per-sample boxes (in picture pixels), as the tracker would build them."""
    faces = [(t, [Face(float(x), float(y), float(w), float(h), 1.0, None) for x, y, w, h in b]) for t, b in samples]
    return link(faces, cuts, min_detections=1)
