"""Letterbox and pillarbox bars found over sampled frames."""

from __future__ import annotations

import numpy as np

from app.analysis.bars import BarDetector, Rect
from tests.unit.analysis.builders import texture


def run(frames: list[np.ndarray], interval: float = 1.0) -> Rect | None:
    detector = BarDetector(interval=interval)
    for i, frame in enumerate(frames):
        detector.add(i * 0.5, frame)
    return detector.content()


def boxed(seed: int, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    frame = texture(seed)
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 12, frame.shape).astype(np.uint8)  # compression noise in the bars
    frame[:top], frame[frame.shape[0] - bottom :] = noise[:top], noise[frame.shape[0] - bottom :]
    frame[:, :left], frame[:, frame.shape[1] - right :] = noise[:, :left], noise[:, frame.shape[1] - right :]
    return frame


def test_letterbox_rows_are_excluded() -> None:
    assert run([boxed(s, 23, 23, 0, 0) for s in range(20)]) == Rect(0, 24, 320, 132)


def test_pillarbox_columns_are_excluded() -> None:
    assert run([boxed(s, 0, 0, 40, 41) for s in range(20)]) == Rect(40, 0, 238, 180)


def test_no_bars_is_the_whole_frame() -> None:
    assert run([texture(s) for s in range(10)]) == Rect(0, 0, 320, 180)


def test_dark_rows_in_a_few_frames_are_not_bars_and_black_frames_are_skipped() -> None:
    frames = [boxed(s, 23, 23, 0, 0) for s in range(20)]
    frames[4] = boxed(50, 60, 23, 0, 0)  # a dark sky in one shot
    frames[8] = np.zeros_like(frames[0])  # a fade: says nothing about bars
    assert run(frames) == Rect(0, 24, 320, 132)


def test_nothing_sampled_gives_none() -> None:
    assert run([np.zeros((180, 320), np.uint8)] * 4) is None
