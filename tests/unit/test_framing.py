"""Framing maths: the reel's size and the crop path as one flat ffmpeg expression that agrees with the path."""

from __future__ import annotations

import re

import pytest

from app.domain.crop import CropKey, path_at
from app.stages.framing import crop_filter, output_size


@pytest.mark.parametrize(
    ("size", "resolution", "expected"),
    [
        ((606, 1080), "1080p", (1080, 1924)),
        ((606, 1080), "720p", (720, 1284)),
        ((1920, 1080), "720p", (1280, 720)),
        ((1921, 1081), "source", (1920, 1080)),
        ((1080, 1080), "1080p", (1080, 1080)),
    ],
)
def test_the_reel_size_sets_the_short_side_and_stays_even(
    size: tuple[int, int], resolution: str, expected: tuple[int, int]
) -> None:
    assert output_size(*size, resolution) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("crop", "resolution", "aspect", "expected"),
    [
        ((404, 720), "1080p", (9, 16), (1080, 1920)),
        ((606, 1080), "720p", (9, 16), (720, 1280)),
        ((1080, 1080), "720p", (1, 1), (720, 720)),
        ((864, 1080), "1080p", (4, 5), (1080, 1350)),
        ((1080, 606), "1080p", (16, 9), (1920, 1080)),
        ((404, 720), "source", (9, 16), (404, 720)),
    ],
)
def test_a_reframed_reel_has_the_platform_size_of_its_aspect(
    crop: tuple[int, int], resolution: str, aspect: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert output_size(*crop, resolution, aspect) == expected  # type: ignore[arg-type]


def _evaluate(expression: str, t: float) -> float:
    """ffmpeg's `clip` and `gte` in Python, for the flat sums crop_filter writes."""
    python = expression.replace("clip(", "_clip(").replace("gte(", "_gte(")
    return float(eval(python, {"_clip": lambda v, a, b: min(max(v, a), b), "_gte": lambda a, b: float(a >= b), "t": t}))


PATH = [
    CropKey(t=20.0, x=100, y=0),
    CropKey(t=22.0, x=160, y=10),  # a smooth move
    CropKey(t=25.0, x=160, y=10),
    CropKey(t=25.0, x=900, y=40),  # a cut: the window jumps
    CropKey(t=30.0, x=860, y=40),
]


@pytest.mark.parametrize("t", [20.0, 20.5, 21.99, 22.0, 24.9, 25.0, 26.0, 29.0, 30.0, 31.0])
def test_the_filter_expression_follows_the_path_at_every_instant(t: float) -> None:
    crop = crop_filter(PATH, 606, 1080, clip_start=20.0)
    x_expr, y_expr = re.findall(r"'([^']*)'", crop)
    x, y = path_at(PATH, t)
    assert _evaluate(x_expr, t - 20.0) == pytest.approx(x, abs=0.01)
    assert _evaluate(y_expr, t - 20.0) == pytest.approx(y, abs=0.01)


def test_the_path_moves_hard_only_at_the_cut() -> None:
    assert path_at(PATH, 24.999)[0] == pytest.approx(160)
    assert path_at(PATH, 25.0)[0] == pytest.approx(900)


def test_a_window_without_a_path_is_fixed_at_the_corner() -> None:
    assert crop_filter([], 1080, 1080, 0.0) == "crop=1080:1080:0:0"
