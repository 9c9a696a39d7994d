"""The joints of a smart reel, decoded before it is trusted: where copied GOPs meet encoded frames or another clip.

A copied GOP is the source's own bitstream under parameter sets written in-band; an encoded edge and the
next clip each bring their own. Every rule the cut follows is checked before it is made, but a source can
still hold what no rule sees (a damaged packet, a stream the decoder reads otherwise than the probe). So
verify decodes around every joint with -xerror (the GOP before it, and after it as far as a joint's trouble
can reach), and a smart clip whose joint does not decode is encoded whole: the reel is never vouched for on
the strength of the rules alone. A reel of encoded clips has no such joint and is not read here at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from app.domain.errors import VerificationError
from app.media.ffmpeg import Binaries
from app.media.gops import decode_errors, packet_index
from app.media.probe import probe
from app.stages.render import Reel, RenderedClip, concat
from app.stages.smart_rules import frame_numbers

log = logging.getLogger(__name__)

# How far past a joint its trouble can show: a frame after it that fails to decode is an IDR under parameter
# sets it cannot read (the first), or a frame that references across it (within H.264's 16 reference frames).
# Beyond, each frame references only frames after the joint, which the copied GOP holds as the source did.
AFTER_JOINT_FRAMES = 16

JOINT_REASON = "its copied frames did not decode cleanly where they meet the encoded ones, so it was encoded whole"

# Encodes clip `index` whole, giving the reason; the pipeline supplies it (it holds the source and the options).
Reencode = Callable[[int, str], Awaitable[RenderedClip]]


@dataclass(frozen=True)
class Window:
    """Reel frames [first, end) decoded as one run, from a keyframe; the clips whose frames it holds."""

    first: int
    end: int
    clips: frozenset[int]


def joints(frames: Sequence[int], clips: Sequence[RenderedClip], keyframes: Sequence[int]) -> list[int]:
    """Reel frames at which copied frames begin or end: a smart clip's edges and its own cuts.

    `frames` is each clip's length. A smart clip checkpointed before its head length was kept has every
    keyframe in it taken as a joint, so it is decoded whole.
    """
    found: set[int] = set()
    at = 0
    for count, clip in zip(frames, clips, strict=True):
        if clip.render_mode == "smart":
            found |= {at, at + count}
            if clip.head_frames is None:
                found |= {k for k in keyframes if at <= k < at + count}
            else:
                found |= {at + clip.head_frames, at + clip.head_frames + clip.copied_frames}
        at += count
    return sorted(j for j in found if 0 < j < at)


def windows(joint_frames: Sequence[int], keyframes: Sequence[int], frames: Sequence[int]) -> list[Window]:
    """Around each joint, overlaps merged: the GOP before it, from its keyframe (the decoder's state at the joint
    is built there), and after it, up to the next keyframe or AFTER_JOINT_FRAMES, whichever comes first."""
    total = sum(frames)
    keys = sorted(set(keyframes) | {0})
    spans: list[tuple[int, int]] = []
    for j in joint_frames:
        first = max(k for k in keys if k < j)
        end = min(min((k for k in keys if k > j), default=total), j + AFTER_JOINT_FRAMES, total)
        if spans and first <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((first, end))
    starts = [sum(frames[:i]) for i in range(len(frames))]
    return [
        Window(first, end, frozenset(i for i, s in enumerate(starts) if s < end and s + frames[i] > first))
        for first, end in spans
    ]


async def check_joints(
    reel: Reel, frames: Sequence[int], rate: Fraction, *, binaries: Binaries, work_dir: Path, reencode: Reencode | None
) -> Reel:
    """Decode around every joint; encode whole each smart clip that a failing window holds, re-join, check again.

    Raises VerificationError when a window that holds no smart clip fails (a join of encoded clips is ours
    alone to get right), or when the re-joined reel still does not decode.
    """
    if not any(clip.render_mode == "smart" for clip in reel.clips):
        return reel
    broken = await _broken(reel, frames, rate, binaries)
    if not broken:
        return reel
    smart = {i for i in broken if reel.clips[i].render_mode == "smart"}
    if not smart or reencode is None:
        raise VerificationError(f"the reel does not decode at the joints of clips {sorted(broken)}")
    clips = list(reel.clips)
    for index in sorted(smart):
        clips[index] = await reencode(index, JOINT_REASON)
    reel = await concat(clips, Path(reel.path), binaries=binaries, work_dir=work_dir)
    if still := await _broken(reel, frames, rate, binaries):
        raise VerificationError(f"the reel does not decode at the joints of clips {sorted(still)}, encoded whole")
    return reel


async def _broken(reel: Reel, frames: Sequence[int], rate: Fraction, binaries: Binaries) -> set[int]:
    path = Path(reel.path)
    info = await probe(binaries.ffprobe, path)
    packets = await packet_index(binaries.ffprobe, path)
    numbers = frame_numbers(packets, info.coding, rate) if info.coding else None
    if numbers is None:
        raise VerificationError("the reel's frames are not on its frame grid, so its joints cannot be found")
    keyframes = [n for n, p in zip(numbers, packets, strict=True) if p.key]
    broken: set[int] = set()
    for window in windows(joints(frames, reel.clips, keyframes), keyframes, frames):
        start, length = float(window.first / rate), float((window.end - window.first) / rate)
        if errors := await decode_errors(binaries.ffmpeg, path, start, length):
            log.warning(
                "a joint of the reel does not decode",
                extra={"frames": [window.first, window.end], "clips": sorted(window.clips), "ffmpeg": errors},
            )
            broken |= window.clips
    return broken
