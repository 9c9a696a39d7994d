"""Frame difference and per-second motion."""

from __future__ import annotations

import numpy as np
import pytest

from app.analysis.motion import FrameSteps, MotionMeter, frame_difference


def test_frame_difference_is_the_mean_absolute_luma_difference() -> None:
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[:2] = 40  # half the pixels differ by 40, in the direction that would wrap in uint8
    assert frame_difference(b, a) == pytest.approx(20.0)
    assert frame_difference(a, b) == pytest.approx(20.0)


def test_one_cut_in_a_still_second_does_not_read_as_motion() -> None:
    meter = MotionMeter()
    for i in range(30):
        meter.add_difference(i / 30, 60.0 if i == 12 else 0.5)
    for i in range(30):
        meter.add_difference(1 + i / 30, 20.0)
    per_second = meter.per_second()
    assert per_second[0] == pytest.approx(0.5)
    assert per_second[1] == pytest.approx(20.0)


def test_per_second_can_be_read_mid_stream_without_losing_values() -> None:
    meter = MotionMeter()
    meter.add_difference(0.1, 1.0)
    assert meter.per_second() == {0: 1.0}
    meter.add_difference(0.2, 3.0)
    meter.add_difference(0.3, 3.0)
    assert meter.per_second() == {0: 3.0}


def test_frame_steps_learn_the_interval_and_call_a_longer_step_a_gap() -> None:
    steps = FrameSteps()
    assert [steps.follows(t) for t in (0.0, 0.04, 0.08, 0.12)] == [False, True, True, True]
    assert steps.interval == pytest.approx(0.04)
    assert steps.follows(0.12 + 0.04 * 1.4) and not steps.follows(0.5) and steps.follows(0.54)
    assert not steps.follows(0.54) and not steps.follows(0.3), "a step that does not move forward"
    fresh = FrameSteps()
    assert [fresh.follows(t) for t in (0.0, 1.5)] == [False, False], "over max_step before the interval is known"
