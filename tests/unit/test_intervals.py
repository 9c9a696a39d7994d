"""Intervals of source time: the one merge (plain and with a payload) and the clamp."""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.domain.intervals import Interval, clamp, merge, merge_by


@dataclass(frozen=True)
class Tagged:
    start: float
    end: float
    tag: str


def span(t: Tagged) -> Interval:
    return t.start, t.end


def first_tag(earlier: Tagged, later: Tagged) -> Tagged:
    return Tagged(earlier.start, max(earlier.end, later.end), earlier.tag)


def test_overlapping_intervals_become_one_and_the_result_is_sorted() -> None:
    assert merge([(5.0, 7.0), (1.0, 3.0), (2.0, 4.0)]) == [(1.0, 4.0), (5.0, 7.0)]


def test_touching_intervals_merge_but_the_smallest_gap_keeps_them_apart() -> None:
    assert merge([(1.0, 2.0), (2.0, 3.0)]) == [(1.0, 3.0)]
    assert merge([(1.0, 2.0), (2.001, 3.0)]) == [(1.0, 2.0), (2.001, 3.0)]


def test_an_interval_inside_another_leaves_its_end() -> None:
    assert merge([(1.0, 10.0), (2.0, 3.0), (9.0, 12.0)]) == [(1.0, 12.0)]


def test_a_point_is_kept_and_one_ending_before_it_starts_is_dropped() -> None:
    assert merge([(4.0, 4.0), (3.0, 1.0)]) == [(4.0, 4.0)]
    assert merge([(1.0, 2.0), (2.0, 2.0)]) == [(1.0, 2.0)]


def test_nothing_merges_to_nothing_and_any_iterable_will_do() -> None:
    assert merge([]) == []
    assert merge((a, a + 1.0) for a in (3.0, 0.0, 1.0)) == [(0.0, 2.0), (3.0, 4.0)]


def test_merge_by_joins_with_the_callers_rule_earlier_first() -> None:
    items = [Tagged(10.0, 12.0, "c"), Tagged(0.0, 5.0, "a"), Tagged(4.0, 8.0, "b")]
    assert merge_by(items, span, first_tag) == [Tagged(0.0, 8.0, "a"), Tagged(10.0, 12.0, "c")]


def test_merge_by_keeps_the_given_order_among_equal_starts() -> None:
    items = [Tagged(1.0, 2.0, "first"), Tagged(1.0, 9.0, "second")]
    assert merge_by(items, span, first_tag) == [Tagged(1.0, 9.0, "first")]


def test_merge_by_leaves_apart_items_as_they_are() -> None:
    items = [Tagged(3.0, 4.0, "b"), Tagged(0.0, 1.0, "a")]
    assert merge_by(items, span, first_tag) == [items[1], items[0]]


def test_clamp_cuts_an_interval_to_the_bounds() -> None:
    assert clamp((-1.5, 3.0), 0.0, 10.0) == (0.0, 3.0)
    assert clamp((8.0, 11.5), 0.0, 10.0) == (8.0, 10.0)
    assert clamp((2.0, 3.0), 0.0, 10.0) == (2.0, 3.0)
    assert clamp((2.0, 30.0), 0.0, math.inf) == (2.0, 30.0)


def test_an_interval_outside_the_bounds_clamps_to_one_ending_before_it_starts() -> None:
    start, end = clamp((20.0, 30.0), 0.0, 10.0)
    assert end < start
    assert merge([clamp((20.0, 30.0), 0.0, 10.0)]) == []
