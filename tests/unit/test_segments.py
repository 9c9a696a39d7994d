"""The clip rules: clamp, widen, cut, merge, keep the best five, and automatic picks."""

from __future__ import annotations

from app.domain.clip_limits import MAX_CLIPS
from app.domain.spec import Highlight
from app.stages.segments import Clip, plan_clips


def h(start: float, end: float, score: float = 0.5) -> Highlight:
    return Highlight(start_time=start, end_time=end, score=score)


def spans(clips: list[Clip]) -> list[tuple[float, float]]:
    return [(c.start, c.end) for c in clips]


def test_clips_are_sorted_by_start() -> None:
    assert spans(plan_clips([h(100, 120), h(10, 30)], 200)) == [(10, 30), (100, 120)]


def test_short_clip_is_widened_around_its_centre() -> None:
    assert spans(plan_clips([h(50, 54)], 200)) == [(44.5, 59.5)]


def test_widening_stays_inside_the_source() -> None:
    assert spans(plan_clips([h(0, 4)], 200)) == [(0, 15)]
    assert spans(plan_clips([h(196, 200)], 200)) == [(185, 200)]


def test_long_clip_keeps_its_first_60_seconds() -> None:
    assert spans(plan_clips([h(10, 100)], 200)) == [(10, 70)]


def test_ranges_are_clamped_to_the_source() -> None:
    assert spans(plan_clips([h(180, 260)], 200)) == [(180, 200)]


def test_ranges_past_the_end_are_dropped() -> None:
    assert plan_clips([h(250, 260)], 200) == []


def test_overlapping_clips_merge_with_the_higher_score() -> None:
    clips = plan_clips([h(10, 30, 0.2), h(25, 45, 0.9)], 200)
    assert spans(clips) == [(10, 45)]
    assert clips[0].score == 0.9


def test_clips_widened_into_each_other_merge() -> None:
    assert spans(plan_clips([h(20, 22), h(26, 28)], 200)) == [(13.5, 34.5)]


def test_merged_clip_longer_than_60_is_cut() -> None:
    assert spans(plan_clips([h(0, 40), h(30, 80)], 200)) == [(0, 60)]


def test_only_the_five_best_are_kept_in_source_order() -> None:
    highlights = [h(i * 30, i * 30 + 20, score=s) for i, s in enumerate([0.1, 0.9, 0.5, 0.8, 0.2, 0.7, 0.6])]
    clips = plan_clips(highlights, 400)
    assert len(clips) == MAX_CLIPS
    assert [c.score for c in clips] == [0.9, 0.5, 0.8, 0.7, 0.6]


def test_every_clip_is_15_to_60_seconds() -> None:
    clips = plan_clips([h(0, 1), h(40, 200), h(300, 301), h(350, 359)], 400)
    assert all(15 <= c.duration <= 60 for c in clips)


def test_source_shorter_than_15_seconds_gives_one_whole_clip() -> None:
    assert spans(plan_clips([h(2, 3)], 9.5)) == [(0, 9.5)]
