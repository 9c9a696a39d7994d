"""The reel's poster frame: one JPEG at the best-scored moment of its best-scored clip, from the verified reel."""

from __future__ import annotations

from pathlib import Path

from app.media.ffmpeg import Binaries, run
from app.media.files import part_name, publish
from app.media.inputs import source_input
from app.stages.analyze import Plan
from app.stages.render import RenderedFile


def best_moment(plan: Plan) -> float:
    """Seconds into the reel at its best-scored clip's peak (the picker's best second), else that clip's middle."""
    offset, best, at = 0.0, -1.0, 0.0
    for segment in plan.segments:
        if segment.score > best:
            within = segment.duration / 2
            if segment.peak is not None and 0 < segment.peak - segment.start < segment.duration:
                within = segment.peak - segment.start
            best, at = segment.score, offset + within
        offset += segment.duration
    return at


async def poster(reel: Path, plan: Plan, *, binaries: Binaries) -> RenderedFile:
    """Write `<reel>.jpg` (through a temp name) from the reel at its best moment."""
    out = reel.with_suffix(".jpg")
    part = part_name(out)
    # The reel is H.264 in MP4, read through the same input whitelist as every source.
    args = ["-v", "error", "-y", *source_input(reel, start=best_moment(plan)), "-map", "0:v:0", "-frames:v", "1"]
    args += ["-q:v", "3", "-c:v", "mjpeg", "-f", "image2", "-update", "1", str(part)]
    await run(binaries.ffmpeg, args)
    size, digest = await publish(part, out)
    return RenderedFile(path=str(out), size=size, sha256=digest)
