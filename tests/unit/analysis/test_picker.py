"""Automatic highlights and snapped clip edges on hand-built feature grids."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
import pytest

from app.analysis.edges import CUT_CLEARANCE, Edges
from app.analysis.picker import Pick, pick_highlights, snap_edges
from tests.unit.analysis.builders import features

DURATION = 600.0
HOT = [(100, 160), (400, 430)]  # speech and motion here; silence and a still frame elsewhere


class HotSource(TypedDict):
    """The per-second values and events of `features` that make a source with two hot spans."""

    speech: np.ndarray
    motion: np.ndarray
    loudness: np.ndarray
    pauses: list[tuple[float, float]]
    cuts: list[float]


def hot_source() -> HotSource:
    n = int(DURATION)
    speech, motion, loudness = np.zeros(n), np.full(n, 0.2), np.full(n, -70.0)
    for a, b in HOT:
        speech[a:b], motion[a:b], loudness[a:b] = 0.9, 12.0, -20.0
    # Pauses every 4 s inside the talk, silence everywhere else is one long pause each side.
    pauses = [(0.0, 100.0), (160.0, 400.0), (430.0, DURATION)]
    pauses += [(t + 1.7, t + 2.0) for a, b in HOT for t in range(a, b - 2, 4)]
    cuts = [float(t) + 0.3 for t in range(5, 600, 7)]  # a cut every 7 s
    return HotSource(speech=speech, motion=motion, loudness=loudness, pauses=sorted(pauses), cuts=cuts)


def check_rules(picks: list[Pick], duration: float, max_total: float = 300.0) -> None:
    assert 1 <= len(picks) <= 5
    assert sum(p.end - p.start for p in picks) <= max_total + 1e-6
    for p in picks:
        assert 15.0 - 1e-6 <= p.end - p.start <= 60.0 + 1e-6 and p.start >= 0 and p.end <= duration
        assert 0.0 <= p.score <= 1.0 and p.reasons
    for a, b in zip(picks, picks[1:], strict=False):
        assert a.end <= b.start


def overlaps(pick: Pick, span: tuple[float, float]) -> bool:
    return pick.start < span[1] and span[0] < pick.end


def test_speech_and_motion_beat_silence_and_a_still_frame() -> None:
    f = features(DURATION, **hot_source())
    picks = pick_highlights(f)
    check_rules(picks, DURATION)
    for span in HOT:
        chosen = [p for p in picks if overlaps(p, span)]
        assert chosen, f"nothing picked in {span}"
        assert all({"speech", "motion"} <= set(p.reasons) for p in chosen)
    hot_scores = [p.score for p in picks if any(overlaps(p, s) for s in HOT)]
    cold_scores = [p.score for p in picks if not any(overlaps(p, s) for s in HOT)]
    assert min(hot_scores) > max(cold_scores, default=0.0)


def test_every_automatic_edge_is_in_a_pause_and_clear_of_cuts() -> None:
    f = features(DURATION, **hot_source())
    for p in pick_highlights(f):
        for edge in (p.start, p.end):
            assert any(a <= edge <= b for a, b in ((q.start, q.end) for q in f.pauses)), edge
            assert min(abs(edge - c) for c in f.cuts) >= CUT_CLEARANCE - 1e-9


def test_without_audio_motion_chooses() -> None:
    f = features(DURATION, has_audio=False, motion=hot_source()["motion"])
    picks = pick_highlights(f)
    check_rules(picks, DURATION)
    assert all(any(overlaps(p, s) for p in picks) for s in HOT)
    assert all("speech" not in p.reasons for p in picks)


def test_silent_still_source_is_spread_over_its_length() -> None:
    f = features(DURATION, loudness=-100.0, motion=0.0)
    picks = pick_highlights(f)
    check_rules(picks, DURATION)
    assert len(picks) == 5
    starts = [p.start for p in picks]
    assert min(np.diff(starts)) >= 60.0  # not bunched together
    assert starts[-1] - starts[0] >= 0.6 * DURATION


def test_max_duration_caps_the_total() -> None:
    f = features(DURATION, **hot_source())
    picks = pick_highlights(f, max_duration=45.0)
    check_rules(picks, DURATION, max_total=45.0)


@pytest.mark.parametrize("duration", [3.0, 6.0, 9.5, 45.0, 60.0])
def test_a_short_source_is_one_clip_of_all_of_it(duration: float) -> None:
    picks = pick_highlights(features(duration, pauses=[(1.0, 1.5)], cuts=[2.0]))
    assert [(p.start, p.end) for p in picks] == [(0.0, duration)]


def test_snap_edges_moves_client_edges_into_pauses_by_at_most_1_5_s() -> None:
    f = features(DURATION, speech=0.9, pauses=[(99.0, 99.8), (121.2, 121.6), (300.0, 300.3)], cuts=[98.9])
    snapped = snap_edges(100.0, 120.0, f)
    start, end = snapped.start, snapped.end
    # The pause starts too close to the cut at 98.9: the edge goes to its part clear of the cut.
    assert 99.4 <= start <= 99.8 and start >= 98.9 + CUT_CLEARANCE
    assert 121.2 <= end <= 121.6
    assert abs(start - 100.0) <= 1.5 and abs(end - 120.0) <= 1.5


def test_snap_edges_without_a_reachable_pause_still_clears_cuts() -> None:
    f = features(DURATION, speech=0.9, pauses=[(300.0, 300.3)], cuts=[100.2])
    snapped = snap_edges(100.0, 120.0, f)
    start, end = snapped.start, snapped.end
    assert abs(start - 100.2) >= CUT_CLEARANCE and abs(start - 100.0) <= 1.5
    assert end == 120.0
    assert snapped.in_speech  # said, not hidden: the clip's reasons will carry edge_in_speech


def test_snap_edges_keeps_the_15_second_minimum() -> None:
    f = features(DURATION, speech=0.9, pauses=[(101.2, 101.6), (114.0, 114.4), (116.2, 116.6)])
    snapped = snap_edges(100.0, 115.0, f)
    start, end = snapped.start, snapped.end
    assert 101.2 <= start <= 101.6
    assert end - start >= 15.0 and 116.2 <= end <= 116.6


def test_snap_edges_leaves_a_source_of_a_minute_or_less_alone() -> None:
    f = features(50.0, speech=0.9, pauses=[(1.0, 2.0)])
    assert snap_edges(0.0, 50.0, f) == Edges(0.0, 50.0)


def test_a_long_lively_scene_becomes_one_long_clip() -> None:
    f = features(DURATION, **hot_source())
    picks = pick_highlights(f)
    inside = [p for p in picks if overlaps(p, HOT[0])]
    assert len(inside) == 1
    assert min(inside[0].end, HOT[0][1]) - max(inside[0].start, HOT[0][0]) >= 50.0


def test_a_budget_shared_by_five_clips_is_never_passed_when_clips_grow() -> None:
    f = features(DURATION, speech=0.8, loudness=-20.0, motion=5.0, pauses=[(t, t + 0.4) for t in range(0, 600, 5)])
    picks = pick_highlights(f, max_duration=200.0)
    check_rules(picks, DURATION, max_total=200.0)
    assert len(picks) == 5


def test_each_pick_names_its_best_second_inside_it_and_none_when_nothing_stands_out() -> None:
    source = hot_source()
    motion = np.array(source["motion"])
    motion[415] = 40.0  # one burst of action inside the second hot span
    picks = pick_highlights(features(DURATION, **(source | {"motion": motion})))
    [burst] = [p for p in picks if overlaps(p, (415, 416))]
    assert burst.peak == 415.5
    assert all(p.peak is None or p.start + 1 <= p.peak <= p.end - 1 for p in picks)
    flat = pick_highlights(features(DURATION, loudness=-100.0, motion=0.0))
    assert all(p.peak is None for p in flat)  # a still, silent source has no best moment: the middle will do


def test_words_put_edges_on_sentence_ends_in_reach_else_on_gaps_between_words_clear_of_cuts() -> None:
    from app.analysis.edges import snap_to_words

    f = features(DURATION, speech=0.9, cuts=[131.0])
    words = [(100.0 + 0.5 * k, 100.4 + 0.5 * k, k in (3, 61)) for k in range(80)]  # sentences end at 101.9, 130.9
    edges = snap_to_words(100.0, 130.0, words, f, max_shift=3.0, min_len=15.0, max_len=40.0)
    assert edges is not None
    assert edges.start == 101.95  # halfway between the sentence's last word and the next
    # 130.95 ends a sentence but sits by the cut at 131.0: the nearest gap between words instead.
    assert edges.end == 129.95 and not edges.in_speech
    assert snap_to_words(100.0, 115.0, words[:2], f, max_shift=3.0, min_len=15.0, max_len=40.0) is None
    # No sentence end in reach: an edge the picker put in a real pause stays there rather than take a word gap.
    paused = features(DURATION, speech=0.9, pauses=[(99.6, 100.4), (129.7, 130.3)])
    gappy = [(80.0 + 0.5 * k, 80.4 + 0.5 * k, False) for k in range(120)]
    kept = snap_to_words(100.0, 130.0, gappy, paused, max_shift=3.0, min_len=15.0, max_len=40.0)
    assert kept is not None and (kept.start, kept.end) == (100.0, 130.0)


@pytest.mark.parametrize(("duration", "max_duration"), [(50.0, 20.0), (50.0, 15.0), (16.0, 15.0)])
def test_a_short_source_still_keeps_within_max_duration(duration: float, max_duration: float) -> None:
    n = int(duration)
    speech = np.zeros(n)
    speech[20:35] = 0.9  # the talk is in the middle
    f = features(duration, speech=speech, motion=1.0, pauses=[(t + 0.7, t + 1.0) for t in range(n)])
    picks = pick_highlights(f, max_duration=max_duration)
    assert len(picks) == 1
    assert 15.0 - 1e-6 <= picks[0].end - picks[0].start <= max_duration + 1e-6
    assert picks[0].start >= 0 and picks[0].end <= duration
    assert duration < 35 or overlaps(picks[0], (20, 35)), "the talk is chosen"


def test_a_short_source_within_max_duration_is_its_own_highlight() -> None:
    picks = pick_highlights(features(50.0), max_duration=60.0)
    assert [(p.start, p.end) for p in picks] == [(0.0, 50.0)]
