"""The decode plan: analysis frame size and the windows that ranges become."""

from __future__ import annotations

from fractions import Fraction

import pytest

from app.media.decode_plan import frame_size, plan_windows
from app.media.probe import VideoStream


def video(width: int, height: int, *, rotation: int = 0, sar: str | None = None) -> VideoStream:
    return VideoStream("h264", width, height, "25/1", "yuv420p", None, None, None, None, rotation,
                       sample_aspect_ratio=sar)


@pytest.mark.parametrize(
    ("stream", "size"),
    [
        (video(1920, 1080), (320, 180)),
        (video(1920, 1080, rotation=90), (320, 568)),  # a phone's portrait video: 1080x1920 on screen
        (video(720, 576, sar="64:45"), (320, 180)),  # anamorphic PAL 16:9
        (video(160, 90), (160, 90)),  # never scaled up
        (video(1440, 1080, sar="4:3"), (320, 180)),
    ],
)
def test_frames_keep_the_display_aspect_at_an_even_size(stream: VideoStream, size: tuple[int, int]) -> None:
    assert frame_size(stream) == size


def test_ranges_are_sorted_clamped_merged_and_snapped_to_the_frame_grid() -> None:
    rate = Fraction(25)
    windows = plan_windows([(9.0, 12.0), (1.01, 2.0), (1.5, 3.0), (-1, 0.5), (20, 30)], 10.0, rate, rate)
    assert [(w.start, w.first_frame_time, w.frames, w.seconds) for w in windows] == [
        (0.0, 0.0, 13, 0.5),
        (1.01, 1.04, 49, pytest.approx(1.99)),  # frames 1.04 .. 2.96
        (9.0, 9.0, 25, 1.0),
    ]
    second = windows[1]
    assert second.seek < 1.04 - 1 / 25 * 0.2 and second.seek > 1.0  # never keeps the frame at 1.0
    assert second.audio_skip == round((1.01 - second.seek) * 16000)


def test_the_whole_source_is_one_window_counted_only_when_decimated() -> None:
    assert plan_windows(None, 4.0, Fraction(25), Fraction(25))[0].frames is None
    assert plan_windows(None, 4.004, Fraction(30000, 1001), Fraction(5))[0].frames == 21


def test_a_range_holds_the_picture_grid_times_from_its_first_frame_to_its_end() -> None:
    ntsc = Fraction(30000, 1001)
    first, second = plan_windows([(0.5, 1.7), (2.93, 3.6)], 4.004, ntsc, ntsc, Fraction(10))
    assert (first.first_frame, first.first_picture, first.pictures) == (15, 6, 11)  # 0.6 .. 1.6 s
    assert (second.first_frame, second.first_picture, second.pictures) == (88, 30, 6)  # 3.0 .. 3.5 s
    assert plan_windows([(1.0, 2.0)], 4.0, Fraction(25), Fraction(25), Fraction(10))[0].pictures == 10
