"""Crop paths: steady and following cameras, cuts, two subjects, bars, scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.analysis.bars import Rect
from app.analysis.crop_window import crop_size
from app.analysis.reframe import reframe
from app.analysis.shots import Fade
from app.domain.crop import CropKey, CropPath
from tests.unit.analysis.builders import Box, features

SOURCE = (1920, 1080)
SCALE = 6  # analysis frames are 320x180
STEP = 1 / 30


def samples(times: np.ndarray, boxes_at: object) -> list[tuple[float, list[Box]]]:
    return [(round(float(t), 3), boxes_at(t)) for t in times]  # type: ignore[operator]


def face(cx: float, cy: float = 70, size: int = 30) -> Box:
    return (round(cx - size / 2), round(cy - size / 2), size, size)


def inside(path: CropPath, t: float, point: tuple[float, float]) -> bool:
    x, y, w, h = path.at(t)
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def motion_checks(path: CropPath, start: float, end: float, cuts: tuple[float, ...] = ()) -> None:
    """Speed ≤ 0.5 crop widths/s away from cuts; velocity changes sign at most once in any second."""
    ts = np.arange(start, end, STEP)
    xs = np.array([path.at(t)[0] for t in ts])
    steps = np.diff(xs)
    near_cut = np.array([any(a <= c <= a + STEP for c in cuts) for a in ts[:-1]])
    assert np.all(np.abs(steps[~near_cut]) <= 0.5 * path.w * STEP + 1.0)
    signs = np.sign(np.where(np.abs(steps) > 1e-6, steps, 0))
    moving = [(t, s) for t, s in zip(ts[:-1], signs, strict=True) if s != 0]
    turns = [t2 for (_, s), (t2, s2) in zip(moving, moving[1:], strict=False) if s2 != s]  # new direction starts
    for a, b in zip(turns, turns[1:], strict=False):
        assert b - a >= 1.0 - STEP, turns


def test_crop_size_is_the_largest_even_window_of_the_aspect() -> None:
    assert crop_size("9:16", Rect(0, 0, 1920, 1080)) == (608, 1080)
    assert crop_size("1:1", Rect(0, 0, 1920, 1080)) == (1080, 1080)
    assert crop_size("4:5", Rect(0, 0, 1920, 1080)) == (864, 1080)
    assert crop_size("16:9", Rect(0, 0, 1080, 1920)) == (1080, 608)
    for aspect, (aw, ah) in {"9:16": (9, 16), "4:5": (4, 5)}.items():
        w, h = crop_size(aspect, Rect(0, 0, 1279, 719))
        assert w % 2 == 0 and h % 2 == 0 and abs(w / h - aw / ah) < 0.01


def test_a_still_subject_off_centre_gets_a_steady_camera_on_it() -> None:
    times = np.arange(0, 10, 0.5)
    f = features(10.0, face_samples=samples(times, lambda t: [face(55)]))
    path = reframe(f, 0.0, 10.0, aspect="9:16", source_size=SOURCE)
    assert len({(k.x, k.y) for k in path.keyframes}) == 1
    assert all(inside(path, t, (55 * SCALE, 70 * SCALE)) for t in np.arange(0, 10, 0.1))
    centre_crop_x = (SOURCE[0] - path.w) / 2
    assert not centre_crop_x <= 55 * SCALE <= centre_crop_x + path.w  # a centre crop would lose it


def test_a_drifting_subject_stays_in_frame_and_the_camera_moves_smoothly() -> None:
    times = np.arange(0, 20, 0.5)
    f = features(20.0, face_samples=samples(times, lambda t: [face(35 + 12 * t)]))
    path = reframe(f, 0.0, 20.0, aspect="9:16", source_size=SOURCE)
    ts = np.arange(0, 20, 0.1)
    kept = np.mean([inside(path, t, ((35 + 12 * t) * SCALE, 70 * SCALE)) for t in ts])
    assert kept >= 0.95
    assert path.keyframes[-1].x > path.keyframes[0].x + 800  # it really followed
    motion_checks(path, 0.0, 20.0)


def test_a_subject_swinging_fast_does_not_make_the_camera_oscillate() -> None:
    times = np.arange(0, 12, 0.5)
    f = features(12.0, face_samples=samples(times, lambda t: [face(160 + 23 * math.sin(2 * math.pi * t / 1.2))]))
    path = reframe(f, 0.0, 12.0, aspect="9:16", source_size=SOURCE)
    assert len({k.x for k in path.keyframes}) > 2  # it follows, within its limits
    motion_checks(path, 0.0, 12.0)


def test_the_camera_jumps_at_the_cut_and_nowhere_else() -> None:
    times = np.arange(0, 10, 0.5)
    f = features(10.0, cuts=[5.0], face_samples=samples(times, lambda t: [face(50 if t < 5 else 270)]))
    path = reframe(f, 0.0, 10.0, aspect="9:16", source_size=SOURCE)
    before, after = path.at(4.99)[0], path.at(5.0)[0]
    assert inside(path, 4.99, (50 * SCALE, 70 * SCALE)) and inside(path, 5.0, (270 * SCALE, 70 * SCALE))
    assert after - before > path.w
    assert path.at(0.0)[0] == before and path.at(9.99)[0] == after
    motion_checks(path, 0.0, 10.0, cuts=(5.0,))


def test_two_people_far_apart_frame_the_larger_one_without_jitter() -> None:
    times = np.arange(0, 10, 0.5)

    def boxes(t: float) -> list[Box]:
        k = int(t * 2)
        big, small = face(60, size=40), face(260, size=26)
        return [b for b, seen in ((big, k % 3 != 0), (small, k % 2 == 0)) if seen]  # each missed at times

    f = features(10.0, face_samples=samples(times, boxes))
    path = reframe(f, 0.0, 10.0, aspect="9:16", source_size=SOURCE)
    assert len({k.x for k in path.keyframes}) == 1
    assert inside(path, 3.0, (60 * SCALE, 70 * SCALE))


def test_no_face_frames_the_centre() -> None:
    path = reframe(features(10.0), 0.0, 10.0, aspect="9:16", source_size=SOURCE)
    assert {(k.x, k.y) for k in path.keyframes} == {((SOURCE[0] - path.w) // 2, 0)}


def test_the_window_stays_inside_the_picture_without_its_bars() -> None:
    times = np.arange(0, 10, 0.5)
    content = Rect(0, 24, 320, 132)  # letterboxed analysis frame
    f = features(10.0, content=content, face_samples=samples(times, lambda t: [face(5 + 30 * t, cy=40)]))
    path = reframe(f, 0.0, 10.0, aspect="1:1", source_size=SOURCE)
    assert path.h <= 132 * SCALE and path.w == path.h
    for t in np.arange(0, 10, 0.1):
        x, y, w, h = path.at(t)
        assert x >= 0 and x + w <= SOURCE[0]
        assert y >= 24 * SCALE and y + h <= (24 + 132) * SCALE


def test_horizontal_crop_from_a_vertical_source_follows_the_face_vertically() -> None:
    times = np.arange(0, 10, 0.5)
    f = features(10.0, frame_size=(180, 320), face_samples=samples(times, lambda t: [face(90, cy=250)]))
    path = reframe(f, 0.0, 10.0, aspect="16:9", source_size=(1080, 1920))
    assert (path.w, path.h) == (1080, 608)
    assert inside(path, 5.0, (90 * 6, 250 * 6))
    assert path.keyframes[0].y > (1920 - 608) / 2  # moved down towards the face, not centred


def test_path_is_piecewise_linear_and_right_continuous_at_a_cut() -> None:
    path = CropPath(
        w=100,
        h=200,
        keyframes=(CropKey(t=0, x=0, y=0), CropKey(t=2, x=20, y=0), CropKey(t=2, x=500, y=0)),
    )
    assert path.at(1.0)[0] == pytest.approx(10.0)
    assert path.at(1.999)[0] == pytest.approx(19.99)
    assert path.at(2.0)[0] == 500 and path.at(7.0)[0] == 500 and path.at(-1.0)[0] == 0


def test_a_fade_through_black_is_a_place_where_the_camera_may_jump() -> None:
    times = np.arange(0, 10, 0.5)
    fades = [Fade(4.0, 5.0, "out"), Fade(5.2, 6.0, "in")]
    f = features(10.0, fades=fades, face_samples=samples(times, lambda t: [face(50 if t < 5 else 270)]))
    path = reframe(f, 0.0, 10.0, aspect="9:16", source_size=SOURCE)
    assert path.at(4.99)[0] == path.at(0.0)[0] and path.at(5.0)[0] == path.at(9.99)[0]
    assert path.at(5.0)[0] - path.at(4.99)[0] > path.w
