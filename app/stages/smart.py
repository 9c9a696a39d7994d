"""Smart render: a clip whose middle needs no change keeps the source's own GOPs; only its edges are encoded.

Per job, the source is judged once (`smart_rules.source_refusal`); per clip, its packet index says where
the clean IDR cuts are. An eligible clip is made of up to three parts, each a MOV whose IDRs carry their
own SPS/PPS in-band: the head [start, first cut) and the tail [last cut, end) encoded with the source's
profile, level and B-frame delay, the GOPs between copied with BT.709 written into their SPS. The parts
are joined (video copied) with the clip's sound rendered exactly as for an encoded clip, so the clip is
interchangeable with one: same checkpoint, same join, same verify. Anything else is encoded whole.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from app.domain.spec import OutputOptions
from app.media.ffmpeg import Binaries, ProgressCallback, gather_or_cancel, run
from app.media.files import part_name, publish
from app.media.gops import idr_flags, packet_index
from app.media.probe import StreamFacts, probe
from app.stages.analyze import Plan, Segment
from app.stages.render import RenderedClip, render_segment
from app.stages.smart_args import assemble_args, coded_like, copy_args, edge_args
from app.stages.smart_rules import Split, fade_frames, frame_numbers, off_grid, source_refusal, split_clip
from app.stages.validate import SourceInfo

# An edge's encode costs about this many copied frames' worth of time per frame: it weighs the progress bar.
_ENCODE_WEIGHT = 20


@dataclass(frozen=True)
class SmartSource:
    """The source's coding facts, and why no clip of the job may be copied (None: each clip is judged)."""

    facts: StreamFacts | None
    refusal: str | None


async def smart_source(source: SourceInfo, plan: Plan, options: OutputOptions, *, binaries: Binaries) -> SmartSource:
    """Judge the source and the request once per job, by the coding that validate's probe read."""
    facts = None
    if source.codec == "h264" and options.render == "auto":
        # None only in a validate checkpoint from before the probe kept the coding (one checkpoint_ttl at
        # most): probed as then, so a resumed job renders the very reel it would have.
        facts = source.media.coding or (await probe(binaries.ffprobe, Path(source.path))).coding
    return SmartSource(facts, source_refusal(facts, source, plan, options))


async def render_clip(
    source: SourceInfo,
    smart: SmartSource,
    plan: Plan,
    segment: Segment,
    options: OutputOptions,
    out: Path,
    *,
    binaries: Binaries,
    on_progress: ProgressCallback | None = None,
) -> RenderedClip:
    """Render one clip: smart when the source and the clip allow it, else encoded whole with the reason."""
    found: Split | str = smart.refusal or "the source was not probed"
    if smart.refusal is None and smart.facts is not None:
        found = await clip_split(source, smart.facts, plan, segment, binaries=binaries)
        if isinstance(found, Split):
            return await _render_smart(source, smart.facts, plan, segment, options, found, out, binaries, on_progress)
    reason = found if isinstance(found, str) else None
    return await encode_clip(
        source, smart, plan, segment, options, out, binaries=binaries, reason=reason, on_progress=on_progress
    )


async def encode_clip(
    source: SourceInfo,
    smart: SmartSource,
    plan: Plan,
    segment: Segment,
    options: OutputOptions,
    out: Path,
    *,
    binaries: Binaries,
    reason: str | None,
    on_progress: ProgressCallback | None = None,
) -> RenderedClip:
    """Encode one clip whole, with the reason it is not smart (None: smart render was not asked for)."""
    # A clip encoded whole in a reel whose other clips copy source GOPs is coded like them: one profile and
    # level under the reel's one sample entry.
    coding = coded_like(smart.facts) if smart.refusal is None and smart.facts is not None else []
    return await render_segment(
        source, plan, segment, options, out, binaries=binaries, on_progress=on_progress, reason=reason, coding=coding
    )


async def clip_split(
    source: SourceInfo, facts: StreamFacts, plan: Plan, segment: Segment, *, binaries: Binaries
) -> Split | str:
    """Where the clip is cut for copying, from the packet index around it; or why it cannot be."""
    path, fps = Path(source.path), Fraction(plan.frame_rate)
    end = segment.start + segment.duration
    # A second either side: the index must hold the keyframe before the clip and every packet shown inside it.
    packets = await packet_index(binaries.ffprobe, path, start=segment.start - 1.0, end=end + 1.0)
    numbers = frame_numbers(packets, facts, fps)
    if numbers is None:
        return off_grid(packets, facts, fps)
    idr = await asyncio.to_thread(idr_flags, path, packets, facts.nal_length_size)
    first = round(segment.start * fps)
    return split_clip(numbers, idr, first, segment.frames, fade_frames(segment, fps))


async def _render_smart(
    source: SourceInfo,
    facts: StreamFacts,
    plan: Plan,
    segment: Segment,
    options: OutputOptions,
    split: Split,
    out: Path,
    binaries: Binaries,
    on_progress: ProgressCallback | None,
) -> RenderedClip:
    parts_dir = out.with_name(f"{out.stem}_parts")
    shutil.rmtree(parts_dir, ignore_errors=True)
    parts_dir.mkdir(parents=True)
    steps: list[tuple[Path, list[str], int]] = []

    def edge(name: str, first: int, frames: int) -> None:
        if frames > 0:
            path = parts_dir / name
            args = edge_args(source, facts, plan, segment, options, path, first=first, frames=frames)
            steps.append((path, args, frames * _ENCODE_WEIGHT))

    edge("head.mov", split.first, split.head_end - split.first)
    middle = parts_dir / "middle.mov"
    steps.append((middle, copy_args(source, plan, middle, first=split.head_end, frames=split.copied), split.copied))
    edge("tail.mov", split.tail_start, split.end - split.tail_start)
    # The parts are independent: the copy is all I/O and a short edge encode leaves cores idle in its
    # lookahead, so they run side by side.
    total, done = sum(w for _, _, w in steps), 0

    async def make(args: list[str], weight: int) -> None:
        nonlocal done
        await run(binaries.ffmpeg, args)
        done += weight
        if on_progress is not None and (reported := on_progress(done / total)) is not None:
            await reported

    await gather_or_cancel([make(args, weight) for _, args, weight in steps])
    listing = parts_dir / "parts.txt"
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file '{p.name}'\n" for p, _, _ in steps))
    part = part_name(out)
    await run(binaries.ffmpeg, assemble_args(source, plan, segment, listing, part))
    size, digest = await publish(part, out)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return RenderedClip(
        path=str(out),
        size=size,
        sha256=digest,
        render_mode="smart",
        copied_frames=split.copied,
        head_frames=split.head_end - split.first,
        params_inband=True,
    )
