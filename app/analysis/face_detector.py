"""PLACEHOLDER on this branch (replaced by the learned detector at merge): Haar on the picture stream."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from app.analysis.faces import cascade

MAX_FACES = 6


@dataclass(frozen=True)
class Face:
    """One detected face in picture pixels."""

    x: float
    y: float
    w: float
    h: float
    score: float
    mouth: tuple[float, float] | None = None


def detect_faces(picture: np.ndarray) -> tuple[Face, ...]:
    """Faces on one BGR picture, best first."""
    grey = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    found = cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=4, minSize=(16, 16))
    faces = [Face(float(x), float(y), float(w), float(h), 1.0) for x, y, w, h in found]
    return tuple(sorted(faces, key=lambda f: -f.w * f.h)[:MAX_FACES])
