"""A crop path: where a window of one size sits over time, as keys in time order, linear between them.

Two keys at one time are a cut: the window jumps there, and the later key holds from that time on.
Analysis writes paths (`analysis/reframe.py`), the plan keeps their keys (the window's size is the
plan's framing), render turns them into a `crop` filter and the result shows them to the client.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict


class CropKey(BaseModel):
    """Where the crop window's top-left corner is at source time `t`, in source pixels, and what it frames."""

    model_config = ConfigDict(frozen=True)

    t: float
    x: int
    y: int
    track: int | None = None  # the face track framed (see the analysis' face tracks); None: no face
    why: str | None = None  # speaker, largest, motion or centre


@dataclass(frozen=True)
class CropPath:
    """A window of `w` x `h` source pixels following `keyframes`."""

    w: int
    h: int
    keyframes: tuple[CropKey, ...]

    def at(self, t: float) -> tuple[float, float, int, int]:
        """The window (x, y, w, h) at source time `t`."""
        x, y = path_at(self.keyframes, t)
        return x, y, self.w, self.h


def path_at(keys: Sequence[CropKey], t: float) -> tuple[float, float]:
    """The window's corner at source time `t`: linear between keys, right-continuous at a cut, held past the ends.

    It is what render's crop filter computes at every frame (`stages/framing.py`).
    """
    i = bisect.bisect_right(keys, t, key=lambda k: k.t) - 1
    if i < 0:
        return float(keys[0].x), float(keys[0].y)
    a = keys[i]
    if i + 1 == len(keys):
        return float(a.x), float(a.y)
    b = keys[i + 1]
    f = (t - a.t) / (b.t - a.t)
    return a.x + f * (b.x - a.x), a.y + f * (b.y - a.y)
