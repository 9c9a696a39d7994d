"""Which clips a smart render may copy, and where it cuts them: pure rules over the probe, the plan and the packets.

A clip is copied only between two IDR keyframes that are clean cuts (every packet before one in decode
order shows before it, every packet from it on shows at or after it), so no copied frame references a
re-encoded one. Everything else, and every frame of a fade, is encoded as today.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from app.domain.spec import OutputOptions
from app.media.gops import Packet
from app.media.probe import StreamFacts
from app.stages.analyze import Plan, Segment
from app.stages.colour import source_colorimetry
from app.stages.transitions import edge_seconds
from app.stages.validate import SourceInfo

# ffprobe's profile names, and the libx264 profile that encodes a compatible edge.
PROFILES = {"Constrained Baseline": "baseline", "Main": "main", "High": "high"}
# Our encodes (libx264 preset fast) hold back 2 frames: a deeper source could not be joined in decode order.
MAX_REORDER_FRAMES = 2
GRID_TOLERANCE = Fraction(1, 100)  # of a frame: a timestamp further off the frame grid is not constant-rate


@dataclass(frozen=True)
class Split:
    """Source frame numbers: [first, head_end) and [tail_start, end) encoded, [head_end, tail_start) copied."""

    first: int
    head_end: int
    tail_start: int
    end: int

    @property
    def copied(self) -> int:
        """Frames copied from the source."""
        return self.tail_start - self.head_end


def source_refusal(facts: StreamFacts | None, info: SourceInfo, plan: Plan, options: OutputOptions) -> str | None:
    """Why no clip of this job can be copied (the first reason found), or None when the source and request allow it."""
    if options.render == "encode":
        return "output.render is encode"
    if options.crf is not None or options.preset is not None:
        return "an explicit crf or preset asks for an encode"
    if options.aspect_ratio != "source":
        return f"aspect_ratio {options.aspect_ratio} crops the picture"
    if options.resolution != "source":
        return f"resolution {options.resolution} scales the picture"
    if plan.framing is not None:
        return f"the {info.width}x{info.height} picture is cropped to an even size"
    if facts is None or facts.codec != "h264":
        return f"the source is {info.codec}, not H.264"
    return _stream_refusal(facts, info)


def _stream_refusal(facts: StreamFacts, info: SourceInfo) -> str | None:
    colour = source_colorimetry(info)
    checks = [
        (facts.pix_fmt == "yuv420p" and facts.bits in (None, 8), f"{facts.pix_fmt} is not 8-bit 4:2:0"),
        (facts.profile in PROFILES, f"H.264 {facts.profile} profile is not Constrained Baseline, Main or High"),
        (facts.field_order in (None, "progressive"), f"the source is interlaced ({facts.field_order})"),
        (facts.rotation == 0, f"the source is rotated {facts.rotation} degrees"),
        (
            colour.is_bt709_limited,
            f"the source is {colour.matrix}/{colour.primaries}{' full range' if colour.full_range else ''}, "
            "not BT.709: it is converted",
        ),
        (facts.length_prefixed, "the source is not length-prefixed H.264 in MP4/MOV (its keyframes cannot be read)"),
        (
            facts.reorder_frames <= MAX_REORDER_FRAMES,
            f"B-frames {facts.reorder_frames} deep (at most {MAX_REORDER_FRAMES})",
        ),
    ]
    return next((reason for ok, reason in checks if not ok), None)


def frame_numbers(packets: Sequence[Packet], facts: StreamFacts, fps: Fraction) -> list[int] | None:
    """Each packet's frame number on the source's frame grid (0 at the file's start); None if one is off it."""
    if facts.time_base <= 0:
        return None
    start = Fraction(facts.start_time).limit_denominator(1_000_000)
    numbers = []
    for p in packets:
        exact = (p.pts * facts.time_base - start) * fps
        number = round(exact)
        if abs(exact - number) > GRID_TOLERANCE:
            return None
        numbers.append(number)
    return numbers


def off_grid(packets: Sequence[Packet], facts: StreamFacts, fps: Fraction) -> str:
    """Why `frame_numbers` found no grid: every frame shifted alike (a stream that starts between two frame slots
    of the file's clock), or frame durations that vary (a variable frame rate).

    Eligibility is judged from the packets' own times, never from the two rates ffprobe reports: cameras and
    screen recorders write an average that differs from the base rate while every frame lasts the same.
    """
    start = Fraction(facts.start_time).limit_denominator(1_000_000)
    phases = [((p.pts * facts.time_base - start) * fps) % 1 for p in packets]
    if phases and max(phases) - min(phases) <= GRID_TOLERANCE:
        late = float(phases[0] / fps)
        return f"the video starts {late:.4f} s off the file's frame grid (after the file's start, between two frames)"
    return "frame durations vary (variable frame rate)"


def fade_frames(segment: Segment, fps: Fraction) -> int:
    """Frames at each edge of the clip that a fade changes, and so must be encoded."""
    return math.ceil(edge_seconds(segment.transition) * fps)


def split_clip(numbers: Sequence[int], idr: Sequence[bool], first: int, count: int, fade: int) -> Split | str:
    """Where to cut the clip [first, first + count): at the first and last clean IDR clear of the fades.

    `numbers` are the frame numbers of the packets in decode order and `idr` which of them are IDR
    keyframes. Returns the reason instead when no whole GOP fits or the frames between are not one per slot.
    """
    cuts = clean_cuts(numbers, idr)
    end = first + count
    head = [k for k in cuts if first + fade <= k <= end - fade]
    if len(head) < 2:
        return "the clip holds no whole GOP between two IDR keyframes clear of its fades"
    head_end, tail_start = head[0], head[-1]
    at = {n: i for i, n in reversed(list(enumerate(numbers)))}
    between = numbers[at[head_end] : at[tail_start]]
    if sorted(between) != list(range(head_end, tail_start)):
        return f"frames {head_end}-{tail_start} are not one per frame slot (variable frame rate or gaps)"
    return Split(first=first, head_end=head_end, tail_start=tail_start, end=end)


def clean_cuts(numbers: Sequence[int], idr: Sequence[bool]) -> list[int]:
    """Frame numbers of the IDR packets at which the stream splits cleanly in both decode and display order."""
    suffix_min = list(numbers)
    for i in range(len(numbers) - 2, -1, -1):
        suffix_min[i] = min(numbers[i], suffix_min[i + 1])
    cuts, before = [], -math.inf
    for i, n in enumerate(numbers):
        if idr[i] and before < n == suffix_min[i]:
            cuts.append(n)
        before = max(before, n)
    return cuts
