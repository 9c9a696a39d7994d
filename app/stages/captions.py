"""The reel's captions: WebVTT cues from the chosen clips' transcripts, timed to the reel, not the source."""

from __future__ import annotations

from pathlib import Path

from app.media.files import part_name, publish
from app.stages.analyze import Plan
from app.stages.render import RenderedFile

_MIN_CUE = 0.2  # seconds: a cue the clip's edge cuts shorter than this would only flash


def webvtt(plan: Plan) -> str | None:
    """The captions of the reel, or None when no clip has a transcript.

    Clips follow one another in the reel with no overlap (fades happen inside each clip), so a cue at source
    time t of a clip starting at s, which begins `offset` seconds into the reel, plays at offset + (t − s).
    """
    lines = ["WEBVTT", ""]
    offset, number = 0.0, 0
    for segment in plan.segments:
        for cue in segment.cues:
            start = max(cue.start, segment.start) - segment.start
            end = min(cue.end, segment.start + segment.duration) - segment.start
            if end - start < _MIN_CUE or not cue.text.strip():
                continue
            number += 1
            lines += [str(number), f"{_time(offset + start)} --> {_time(offset + end)}", _escape(cue.text), ""]
        offset += segment.duration
    return "\n".join(lines) if number else None


async def write_captions(plan: Plan, reel: Path) -> RenderedFile | None:
    """Write `<reel>.vtt` (through a temp name) when there is anything to caption."""
    text = webvtt(plan)
    if text is None:
        return None
    out = reel.with_suffix(".vtt")
    part = part_name(out)
    part.write_text(text, encoding="utf-8")
    size, digest = await publish(part, out)
    return RenderedFile(path=str(out), size=size, sha256=digest)


def _time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _escape(text: str) -> str:
    # WebVTT cue text is markup: these three would open a tag, an entity or end the cue's timing line.
    flat = " ".join(text.split())
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
