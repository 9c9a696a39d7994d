"""Framing: each clip's crop window and path for the reel's aspect, the reel's size, and the path as an ffmpeg filter.

The analysis writes the paths (`analysis/reframe.py`); the plan keeps their keys (`domain/crop.py`).
Render turns a path into a `crop` whose x and y are per-frame expressions built as flat sums (a ramp
per moving piece, a step per cut), never nested ifs, so a path of any length parses in ffmpeg's
expression evaluator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from pydantic import BaseModel, ConfigDict

from app.analysis.crop_window import ASPECTS, crop_size, source_content, split_size
from app.analysis.features import SourceFeatures
from app.analysis.reframe import reframe, reframe_split
from app.domain.crop import CropKey
from app.domain.spec import Layout, OutputOptions, Resolution
from app.stages.validate import SourceInfo

SHORT_SIDES: dict[str, int] = {"720p": 720, "1080p": 1080}


class CropSize(BaseModel):
    """The crop window's size in source pixels, and the size the reel is scaled to."""

    model_config = ConfigDict(frozen=True)

    width: int
    height: int
    output_width: int
    output_height: int
    half_width: int | None = None  # a split clip's two windows (each shown as half the reel), source pixels
    half_height: int | None = None


@dataclass(frozen=True)
class ClipCrop:
    """One clip's crop path, or with layout split the top half's and the bottom half's."""

    layout: Layout
    crop: list[CropKey]
    crop_bottom: list[CropKey] = field(default_factory=list)


def output_size(
    width: int, height: int, resolution: Resolution, aspect: tuple[int, int] | None = None
) -> tuple[int, int]:
    """The reel's size for a picture of `width` x `height`: its own, or scaled to a short side, even.

    With a target `aspect` (9:16, …) a scaled reel has exactly that shape, 1080x1920 and not the
    1080x1924 an even-sized crop would scale to: platforms and players expect the standard sizes.
    """
    if resolution == "source":
        return width - width % 2, height - height % 2
    short = SHORT_SIDES[resolution]
    if aspect is not None:
        num, den = aspect
        if num <= den:
            return short, round(short * den / num / 2) * 2
        return round(short * num / den / 2) * 2, short
    scale = short / min(width, height)
    return round(width * scale / 2) * 2, round(height * scale / 2) * 2


def frame_clips(
    source: SourceInfo,
    options: OutputOptions,
    features: SourceFeatures | None,
    snapped: Sequence[tuple[float, int]],
    fps: Fraction,
) -> tuple[CropSize | None, list[ClipCrop]]:
    """The crop size and the reel's size, and each clip's crop paths: one, or two (top, bottom) when split."""
    size = (source.width, source.height)
    sar = float(source.media.video.sar) if source.media.video else 1.0
    if options.aspect_ratio == "source" or features is None:
        width, height = source.width - source.width % 2, source.height - source.height % 2
        out = output_size(round(width * sar), height, options.resolution)
        plain = (width, height) == size and out == (width, height)
        framing = None if plain else CropSize(width=width, height=height, output_width=out[0], output_height=out[1])
        return framing, [ClipCrop("single", []) for _ in snapped]
    content = source_content(features, size)
    width, height = crop_size(options.aspect_ratio, content, sar)
    out = output_size(round(width * sar), height, options.resolution, ASPECTS[options.aspect_ratio])
    half = split_size(content, sar) if options.layout == "split" else None
    framing = CropSize(
        width=width,
        height=height,
        output_width=out[0],
        output_height=out[1],
        half_width=half[0] if half else None,
        half_height=half[1] if half else None,
    )
    crops: list[ClipCrop] = []
    for start, frames in snapped:
        end = start + float(frames / fps)
        pair = reframe_split(features, start, end, source_size=size, sar=sar) if half else None
        if pair is not None:
            crops.append(ClipCrop("split", list(pair[0].keyframes), list(pair[1].keyframes)))
            continue
        path = reframe(
            features, start, end, aspect=options.aspect_ratio, source_size=size, sar=sar, framing=options.framing
        )
        crops.append(ClipCrop("single", list(path.keyframes)))
    return framing, crops


def split_filter(
    top: Sequence[CropKey], bottom: Sequence[CropKey], framing: CropSize, clip_start: float, *, colour: str = ""
) -> str:
    """Two crops stacked top and bottom, each scaled to half the reel: a graph of one input and one output.

    It is the middle of the clip's one filter chain (after fps), so the split costs no extra encode: each
    frame is still decoded once and encoded once. `colour`, if given, converts each crop before its scale.
    """
    assert framing.half_width is not None and framing.half_height is not None
    w, h = framing.half_width, framing.half_height
    ow, oh = framing.output_width, framing.output_height // 2
    convert = f",{colour}" if colour else ""
    halves = [
        f"[split{i}]{crop_filter(keys, w, h, clip_start)}{convert},scale={ow}:{oh}:flags=lanczos,setsar=1[half{i}]"
        for i, keys in enumerate((top, bottom))
    ]
    return "split=2[split0][split1];" + ";".join(halves) + ";[half0][half1]vstack"


def crop_filter(keys: Sequence[CropKey], width: int, height: int, clip_start: float) -> str:
    """ffmpeg `crop` following `keys`; `t` in the filter counts from the clip's first frame."""
    if not keys:
        return f"crop={width}:{height}:0:0"
    return f"crop={width}:{height}:'{_expression(keys, 'x', clip_start)}':'{_expression(keys, 'y', clip_start)}'"


def _expression(keys: Sequence[CropKey], axis: str, clip_start: float) -> str:
    first = getattr(keys[0], axis)
    terms = [str(first)]
    for a, b in zip(keys, keys[1:], strict=False):
        va, vb = getattr(a, axis), getattr(b, axis)
        if va == vb:
            continue
        t0 = a.t - clip_start
        if b.t <= a.t:  # a cut: the window jumps here
            terms.append(f"{vb - va}*gte(t,{t0:.4f})")
        else:
            span = b.t - a.t
            terms.append(f"{(vb - va) / span:.4f}*clip(t-({t0:.4f}),0,{span:.4f})")
    return "+".join(terms).replace("+-", "-")
