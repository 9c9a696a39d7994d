"""The crop window's size for an aspect ratio, and where in the source it may sit.

The crop keeps one size for a clip: the largest window of the aspect inside the picture without its
bars, in display shape (anamorphic pixels are counted as shown), on even pixels for 4:2:0 video.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.analysis.bars import Rect, even_up
from app.analysis.features import SourceFeatures

ASPECTS: dict[str, tuple[int, int]] = {"9:16": (9, 16), "1:1": (1, 1), "4:5": (4, 5), "16:9": (16, 9)}
HALF_ASPECT = (9, 8)  # each half of a split 9:16 reel


@dataclass(frozen=True)
class CropGeometry:
    """The crop's size and where its corner may go, and the scale from analysis to source pixels."""

    w: int
    h: int
    content: Rect
    to_source: tuple[float, float]  # source pixels per track (picture) pixel, x and y
    source: tuple[int, int]  # the source's stored size

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """The lowest and highest corner (x0, y0, x1, y1) that keeps the window inside the content."""
        c = self.content
        return c.x, c.y, c.x + c.w - self.w, c.y + c.h - self.h


def crop_size(aspect: str | tuple[int, int], content: Rect, sar: float = 1.0) -> tuple[int, int]:
    """The largest even-sized window inside `content` (stored pixels) that shows as `aspect` (e.g. "9:16")."""
    aw, ah = ASPECTS[aspect] if isinstance(aspect, str) else aspect
    if content.w * sar * ah > content.h * aw:  # content shows wider than the aspect: full height
        h = content.h // 2 * 2
        w = min(content.w, round(h * aw / ah / sar)) // 2 * 2
    else:
        w = content.w // 2 * 2
        h = min(content.h, round(w * sar * ah / aw)) // 2 * 2
    return w, h


def split_size(content: Rect, sar: float = 1.0) -> tuple[int, int]:
    """Each half's window in a split 9:16 reel: 9:8, at most half the picture's height (a closer shot)."""
    return crop_size(HALF_ASPECT, Rect(content.x, content.y, content.w, max(2, content.h // 2)), sar)


def source_content(features: SourceFeatures, source_size: tuple[int, int]) -> Rect:
    """The bar-free picture scaled from analysis pixels to source pixels (even-aligned, inwards)."""
    sw, sh = source_size
    if features.frame_size is None or features.content is None:
        return Rect(0, 0, sw // 2 * 2, sh // 2 * 2)
    sx, sy = sw / features.frame_size[0], sh / features.frame_size[1]
    c = features.content
    x0, y0 = even_up(c.x * sx), even_up(c.y * sy)
    x1, y1 = int((c.x + c.w) * sx) // 2 * 2, int((c.y + c.h) * sy) // 2 * 2
    return Rect(x0, y0, min(x1, sw) - x0, min(y1, sh) - y0)


def picture_scale(features: SourceFeatures, source_size: tuple[int, int]) -> tuple[float, float]:
    """Source pixels per picture pixel (where faces were found), x and y."""
    size = features.picture_size or features.frame_size or source_size
    return source_size[0] / size[0], source_size[1] / size[1]


