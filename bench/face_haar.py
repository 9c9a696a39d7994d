"""The Haar cascade the analysis used before CenterFace, kept as the baseline `make bench-faces` measures against.

OpenCV's frontal `alt2` cascade (shipped in the wheel) on a 320 px wide grey picture, scale step 1.1,
4 neighbours, 24 px minimum: exactly what `app/analysis/faces.py` ran until the learned detector replaced it.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

_CASCADE = "haarcascade_frontalface_alt2.xml"
MAX_FACES = 3


@lru_cache(maxsize=1)
def cascade() -> cv2.CascadeClassifier:
    """The frontal-face cascade, loaded once per process."""
    classifier = cv2.CascadeClassifier(cv2.data.haarcascades + _CASCADE)  # type: ignore[attr-defined]
    if classifier.empty():
        raise RuntimeError(f"OpenCV could not load {_CASCADE}")
    return classifier


def detect(gray: np.ndarray, *, min_size: int = 24) -> list[tuple[int, int, int, int]]:
    """Faces (x, y, w, h) on one greyscale frame, largest first."""
    found = cascade().detectMultiScale(
        np.ascontiguousarray(gray), scaleFactor=1.1, minNeighbors=4, minSize=(min_size, min_size)
    )
    boxes = [(int(x), int(y), int(w), int(h)) for x, y, w, h in found]
    return sorted(boxes, key=lambda b: -b[2] * b[3])[:MAX_FACES]
