"""CenterFace finds small, rolled and turned faces from real photos on 960 px colour pictures, and none on
textures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from app.analysis.face_detector import MAX_FACES, Cells, Face, detect_faces, plausible

# Faces found by eye on scikit-image's 512 px photos (x, y, w, h): brow to chin.
ASTRONAUT = (180, 65, 90, 100)
CAMERAMAN = (178, 112, 74, 83)  # a profile: one eye, the ear, the nose against the sky


def scene(seed: int, w: int = 960, h: int = 540) -> np.ndarray:
    """A smooth coloured noise texture: no face anywhere."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (h // 16 + 2, w // 16 + 2, 3)).astype(np.uint8)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)


def paste(picture: np.ndarray, photo: np.ndarray, face: tuple[int, int, int, int], height: float,
          at: tuple[int, int], roll: float = 0.0) -> tuple[float, float, float, float]:
    """Paste the photo's face with as much around it again, its face `height` px tall and centred on `at`;
    returns the face's true box."""
    fx, fy, fw, fh = face
    crop = photo[max(0, fy - fh // 2) : fy + fh * 3 // 2, max(0, fx - fw // 2) : fx + fw * 3 // 2]
    scale = height / fh
    patch = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ph, pw = patch.shape[:2]
    turn = cv2.getRotationMatrix2D((pw / 2, ph / 2), roll, 1.0)
    patch = cv2.warpAffine(patch, turn, (pw, ph), borderMode=cv2.BORDER_REFLECT)
    x, y = at[0] - pw // 2, at[1] - ph // 2
    picture[y : y + ph, x : x + pw] = patch
    return at[0] - fw * scale / 2, at[1] - fh * scale / 2, fw * scale, fh * scale


def room(seed: int, w: int = 960, h: int = 540) -> np.ndarray:
    """A real non-face scene (scikit-image's coffee cup), cropped by the seed."""
    coffee = cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)
    x = seed * 37 % 100
    return cv2.resize(coffee[:, x : x + 500], (w, h), interpolation=cv2.INTER_AREA)


def astronaut() -> np.ndarray:
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def iou(a: Face, b: tuple[float, float, float, float]) -> float:
    w = min(a.x + a.w, b[0] + b[2]) - max(a.x, b[0])
    h = min(a.y + a.h, b[1] + b[3]) - max(a.y, b[1])
    inter = max(0.0, w) * max(0.0, h)
    return inter / (a.w * a.h + b[2] * b[3] - inter)


@pytest.mark.parametrize(
    "share",
    [
        0.05,  # 27 px on the 960 px picture, 22 px in the network's 768x432 input
        0.07,
        0.10,
    ],
)
def test_small_frontal_face_is_found_with_its_box_and_mouth(share: float) -> None:
    picture = room(1)
    truth = paste(picture, astronaut(), ASTRONAUT, share * 540, (300, 225))
    faces = detect_faces(picture)
    assert len(faces) == 1
    face = faces[0]
    assert iou(face, truth) >= 0.4
    assert face.mouth is not None
    # The mouth sits in the lower half of the face, near its middle.
    assert truth[0] + truth[2] * 0.25 <= face.mouth[0] <= truth[0] + truth[2] * 0.75
    assert truth[1] + truth[3] * 0.5 <= face.mouth[1] <= truth[1] + truth[3] * 1.1


@pytest.mark.parametrize("roll", [-30, 30])
def test_face_rolled_30_degrees_is_found(roll: float) -> None:
    picture = room(2)
    truth = paste(picture, astronaut(), ASTRONAUT, 0.10 * 540, (600, 270), roll=roll)
    faces = detect_faces(picture)
    assert len(faces) == 1 and iou(faces[0], truth) >= 0.3


@pytest.mark.parametrize("roll", [-30, 30])
def test_small_face_rolled_30_degrees_is_found(roll: float) -> None:
    picture = room(1)
    truth = paste(picture, astronaut(), ASTRONAUT, 0.09 * 540, (300, 225), roll=roll)
    faces = detect_faces(picture)
    assert len(faces) == 1 and iou(faces[0], truth) >= 0.3


def cells(height_px: float, score: float, aspect: float = 1.2) -> Cells:
    """One heat-map cell with a face-shaped box `height_px` network pixels tall and a frontal face's landmarks."""
    landmarks = np.array([0.35, 0.3, 0.35, 0.7, 0.55, 0.5, 0.75, 0.35, 0.75, 0.65], np.float32)[:, None]
    log_h = np.log(height_px / 4)
    sizes = np.array([[log_h], [log_h - np.log(aspect)]], np.float32)
    return Cells(np.array([20]), np.array([20]), np.array([score], np.float32), sizes, np.zeros((2, 1), np.float32),
                 landmarks, 252.0)


def test_low_score_passes_for_a_small_face_but_not_for_a_large_box() -> None:
    assert plausible(cells(20, 0.2)).tolist() == [True]
    assert plausible(cells(60, 0.2)).tolist() == [False]  # textures make large boxes at 0.15-0.27
    assert plausible(cells(60, 0.7)).tolist() == [True]
    assert plausible(cells(300, 0.9)).tolist() == [False]  # taller than the picture
    assert plausible(cells(20, 0.9, aspect=2.5)).tolist() == [False]


def test_profile_face_is_found() -> None:
    picture = room(3)
    camera = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    truth = paste(picture, camera, CAMERAMAN, 0.15 * 540, (480, 270))
    faces = detect_faces(picture)
    assert len(faces) == 1 and iou(faces[0], truth) >= 0.3


def test_vertical_and_4_3_pictures_find_the_face() -> None:
    for w, h in ((960, 720), (960, 1706)):
        picture = room(4, w, h)
        truth = paste(picture, astronaut(), ASTRONAUT, 0.10 * h, (w // 3, h // 2))
        faces = detect_faces(picture)
        assert len(faces) == 1 and iou(faces[0], truth) >= 0.3, (w, h, faces)


@pytest.mark.parametrize("seed", range(6))
def test_textures_and_a_cats_face_have_no_face(seed: int) -> None:
    assert detect_faces(scene(10 + seed)) == ()
    if seed == 0:
        cat = cv2.resize(cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR), (960, 540))
        assert detect_faces(cat) == ()


def test_several_faces_are_all_found_best_first_and_at_most_max_faces() -> None:
    picture = room(5, 640, 480)
    truths = [paste(picture, astronaut(), ASTRONAUT, 40, (60 + i * 104, 120 + (i % 2) * 200)) for i in range(6)]
    faces = detect_faces(picture)
    assert len(faces) == 6
    assert all(any(iou(f, t) >= 0.3 for f in faces) for t in truths)
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    truths += [paste(picture, astronaut(), ASTRONAUT, 40, (590, 360))]
    assert len(detect_faces(picture)) == MAX_FACES
