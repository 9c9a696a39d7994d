"""Shot cuts and fades on synthetic frame sequences."""

from __future__ import annotations

import numpy as np
import pytest

from app.analysis.shots import ShotDetector
from tests.unit.analysis.builders import jitter, texture

FPS = 30.0


def run(frames: list[np.ndarray], start: float = 0.0) -> ShotDetector:
    detector = ShotDetector()
    for i, frame in enumerate(frames):
        detector.add(start + i / FPS, frame)
    detector.finish()
    return detector


def shot(seed: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    base = texture(seed)
    return [jitter(base, rng) for _ in range(n)]


def test_hard_cut_is_found_at_the_first_frame_of_the_new_shot() -> None:
    rng = np.random.default_rng(1)
    frames = shot(1, 45, rng) + shot(2, 45, rng) + shot(3, 30, rng)
    cuts = run(frames).cuts
    assert cuts == pytest.approx([45 / FPS, 90 / FPS], abs=1e-6)


def test_a_one_frame_flash_is_not_a_cut() -> None:
    rng = np.random.default_rng(2)
    frames = shot(1, 60, rng)
    frames[30] = np.full_like(frames[30], 250)
    assert run(frames).cuts == ()


def test_a_two_frame_flash_is_not_a_cut() -> None:
    rng = np.random.default_rng(3)
    frames = shot(1, 60, rng)
    frames[30] = np.clip(frames[30].astype(np.int16) + 110, 0, 255).astype(np.uint8)
    frames[31] = np.clip(frames[31].astype(np.int16) + 110, 0, 255).astype(np.uint8)
    assert run(frames).cuts == ()


def test_steady_fast_pan_is_not_a_cut() -> None:
    wide = texture(5, w=1400)
    pan = [wide[:, 12 * i : 12 * i + 320] for i in range(90)]  # each frame differs by ~40 luma levels
    assert run(pan).cuts == ()


def test_a_cut_between_two_panning_shots_is_found() -> None:
    wide_a, wide_b = texture(5, w=800), texture(6, w=800)
    pan_a = [wide_a[:, 3 * i : 3 * i + 320] for i in range(40)]
    pan_b = [wide_b[:, 3 * i : 3 * i + 320] for i in range(40)]
    assert run(pan_a + pan_b).cuts == pytest.approx([40 / FPS], abs=1e-6)


def test_cuts_closer_than_the_minimum_shot_keep_only_the_first() -> None:
    rng = np.random.default_rng(4)
    frames = shot(1, 30, rng) + shot(2, 6, rng) + shot(3, 30, rng)  # a 0.2 s shot
    assert run(frames).cuts == pytest.approx([30 / FPS], abs=1e-6)


def test_fade_to_black_and_back_is_a_pair_of_fades_without_cuts() -> None:
    rng = np.random.default_rng(5)
    a, b = texture(1).astype(np.float32), texture(2).astype(np.float32)
    frames = [jitter(a.astype(np.uint8), rng) for _ in range(30)]
    frames += [(a * (1 - k / 30)).astype(np.uint8) for k in range(1, 31)]  # 1 s fade out
    frames += [np.zeros_like(frames[0]) for _ in range(10)]
    frames += [(b * k / 30).astype(np.uint8) for k in range(1, 31)]  # 1 s fade in
    frames += [jitter(b.astype(np.uint8), rng) for _ in range(30)]
    detector = run(frames)
    assert detector.cuts == ()
    out, into = detector.fades
    assert out.kind == "out" and into.kind == "in"
    # A ramp ends where the picture reads as black (mean luma < 20), a few frames short of zero.
    assert out.start == pytest.approx(30 / FPS, abs=0.1) and out.end == pytest.approx(60 / FPS, abs=0.25)
    assert into.start == pytest.approx(70 / FPS, abs=0.25) and into.end == pytest.approx(100 / FPS, abs=0.1)


def test_hard_cut_to_black_is_not_a_fade() -> None:
    rng = np.random.default_rng(6)
    frames = shot(1, 30, rng) + [np.zeros((180, 320), np.uint8)] * 30 + shot(2, 30, rng)
    detector = run(frames)
    assert detector.fades == ()
    assert len(detector.cuts) == 2


def test_a_gap_in_time_restarts_detection_instead_of_reporting_a_cut() -> None:
    rng = np.random.default_rng(7)
    detector = ShotDetector()
    for i, frame in enumerate(shot(1, 60, rng)):
        detector.add(i / FPS, frame)
    for i, frame in enumerate(shot(2, 60, rng)):
        detector.add(10 + i / FPS, frame)
    assert detector.cuts == ()


def test_add_returns_the_difference_from_the_previous_frame() -> None:
    detector = ShotDetector()
    first = np.full((10, 10), 100, np.uint8)
    assert detector.add(0.0, first) is None
    assert detector.add(1 / FPS, first + 10) == pytest.approx(10.0)


def test_ranges_less_than_a_second_apart_give_no_cut_and_no_difference_across_the_gap() -> None:
    rng = np.random.default_rng(8)
    detector = ShotDetector()
    for i, frame in enumerate(shot(1, 60, rng)):
        detector.add(i / FPS, frame)
    second = shot(2, 60, rng)
    assert detector.add(2.4, second[0]) is None  # 0.4 s after the last frame: 11 frames left out
    for i, frame in enumerate(second[1:], start=1):
        assert detector.add(2.4 + i / FPS, frame) is not None
    detector.finish()
    assert detector.cuts == () and detector.fades == ()


def test_a_range_starting_black_after_a_short_gap_is_no_fade() -> None:
    rng = np.random.default_rng(9)
    detector = ShotDetector()
    for i, frame in enumerate(shot(1, 30, rng)):
        detector.add(i / FPS, frame)
    for i in range(30):  # black from the first frame of the next range: the gap, not a fade, took the light
        detector.add(1.5 + i / FPS, np.zeros((180, 320), np.uint8))
    for i, frame in enumerate(shot(2, 30, rng)):  # and a range opening bright straight after black ones
        detector.add(2.9 + i / FPS, frame)
    detector.finish()
    assert detector.fades == () and detector.cuts == ()


def test_one_frame_left_out_is_a_gap_but_a_decimated_rate_is_not() -> None:
    rng = np.random.default_rng(10)
    frames = shot(1, 20, rng)
    steady = ShotDetector()
    assert [steady.add(i * 0.2, f) is None for i, f in enumerate(frames)] == [True] + [False] * 19
    skipping = ShotDetector()
    times = [i / FPS for i in range(10)] + [(i + 1) / FPS for i in range(10, 20)]  # frame 10 left out
    assert [skipping.add(t, f) is None for t, f in zip(times, frames, strict=True)] == [True] + [False] * 9 + [
        True
    ] + [False] * 9
