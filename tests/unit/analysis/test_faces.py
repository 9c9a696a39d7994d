"""The Haar cascade finds the astronaut's face; the sampler runs it a few times a second."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from app.analysis.faces import FaceSampler, detect_faces

# The face in the 512 px astronaut image, found once by eye: x 180–270, y 65–165.
FACE = (180, 65, 90, 100)


def astronaut(size: int) -> np.ndarray:
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)


def composite(size: int, x: int, y: int, canvas: tuple[int, int] = (320, 180)) -> np.ndarray:
    frame = np.full((canvas[1], canvas[0]), 128, np.uint8)
    frame[y : y + size, x : x + size] = astronaut(size)
    return frame


def face_centre(size: int, x: int, y: int) -> tuple[float, float]:
    s = size / 512
    return x + (FACE[0] + FACE[2] / 2) * s, y + (FACE[1] + FACE[3] / 2) * s


def contains(box: tuple[int, int, int, int], point: tuple[float, float]) -> bool:
    bx, by, bw, bh = box
    return bx <= point[0] <= bx + bw and by <= point[1] <= by + bh


@pytest.mark.parametrize("x", [0, 80, 160])
def test_astronaut_face_is_found_in_a_320_px_frame(x: int) -> None:
    boxes = detect_faces(composite(160, x, 10))
    assert len(boxes) == 1
    assert contains(boxes[0], face_centre(160, x, 10))


def test_astronaut_downscaled_to_320_px_wide_is_found_on_a_plain_background() -> None:
    boxes = detect_faces(composite(320, 40, 30, canvas=(400, 400)))
    assert boxes and contains(boxes[0], face_centre(320, 40, 30))


def test_plain_and_noisy_frames_have_no_face() -> None:
    rng = np.random.default_rng(0)
    assert detect_faces(np.full((180, 320), 128, np.uint8)) == ()
    assert detect_faces(rng.integers(0, 256, (180, 320)).astype(np.uint8)) == ()


def test_sampler_analyses_two_frames_a_second_and_counts_presence() -> None:
    sampler = FaceSampler(interval=0.5)
    with_face, without = composite(160, 80, 10), np.full((180, 320), 128, np.uint8)
    for i in range(60):  # 2 s at 30 fps: a face in the first second only
        t = i / 30
        sampler.add(t, with_face if t < 1 else without)
    assert [s.t for s in sampler.samples] == [0.0, 0.5]
    assert sampler.per_second() == {0: 1.0, 1: 0.0}


def test_sampler_samples_on_its_grid_after_a_jump_back_in_time() -> None:
    sampler = FaceSampler(interval=0.5)
    frame = composite(160, 80, 10)
    for t in (10.0, 10.2, 10.5, 3.0, 3.1, 3.5):
        sampler.add(t, frame)
    assert [s.t for s in sampler.samples] == [10.0, 10.5, 3.0, 3.5]


def test_face_is_found_across_sizes_and_positions_without_false_faces() -> None:
    cases = [(composite(size, x, 0), face_centre(size, x, 0)) for size in (130, 150, 170, 180) for x in (0, 60, 140)]
    for size in (200, 240, 280, 320):
        for x in (0, 50):
            cases.append((composite(size, x, 0, canvas=(size + x + 20, size)), face_centre(size, x, 0)))
    found = [detect_faces(frame) for frame, _ in cases]
    hits = sum(any(contains(b, centre) for b in boxes) for boxes, (_, centre) in zip(found, cases, strict=True))
    false = sum(not contains(b, centre) for boxes, (_, centre) in zip(found, cases, strict=True) for b in boxes)
    assert hits >= 0.9 * len(cases)
    assert false == 0
