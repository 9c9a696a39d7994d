"""Time intervals in source seconds and the one merge of them (decode ranges, clips, edge zones all use it).

Every merge here is on closed intervals: one that starts at or before the previous one's end (touching
included) joins it. Inputs need not be sorted; outputs are, by start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

Interval = tuple[float, float]  # (start, end) in seconds; start == end is a point, still an interval

T = TypeVar("T")


def merge_by(items: Iterable[T], span: Callable[[T], Interval], join: Callable[[T, T], T]) -> list[T]:
    """`items` in order of start (stable on ties), each that overlaps or touches the one before joined into it.

    `span` gives an item's interval; `join(earlier, later)` makes the one item that stands for both, so what
    else an item carries (a score, a transition) is the caller's rule.
    """
    out: list[T] = []
    for item in sorted(items, key=lambda i: span(i)[0]):
        if out and span(item)[0] <= span(out[-1])[1]:
            out[-1] = join(out[-1], item)
        else:
            out.append(item)
    return out


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of `intervals` as sorted, disjoint intervals; one whose end is before its start is dropped."""
    # Sorted by end too, so not even which of two equal starts (0 and 0.0) is kept depends on the input's order.
    return merge_by(sorted(i for i in intervals if i[1] >= i[0]), _itself, _union)


def clamp(interval: Interval, lo: float, hi: float) -> Interval:
    """`interval` cut to [lo, hi]; its end falls before its start when it lies outside."""
    return max(lo, interval[0]), min(interval[1], hi)


def _itself(interval: Interval) -> Interval:
    return interval


def _union(earlier: Interval, later: Interval) -> Interval:
    return earlier[0], max(earlier[1], later[1])
