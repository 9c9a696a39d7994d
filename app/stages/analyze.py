"""Stage 2: the final clip list, each clip's loudness, and the framing of the reel."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from app.errors import InputError
from app.media.ffmpeg import Binaries
from app.media.loudness import TimeRange, measure_ranges, short_term_curve
from app.spec import AspectRatio, JobSpec, Transition
from app.stages.segments import Clip, auto_clips, plan_clips
from app.stages.transitions import audio_fades
from app.stages.validate import SourceInfo


class Segment(BaseModel):
    """One clip of the reel, snapped to the source's frame grid, with its measured loudness."""

    model_config = ConfigDict(frozen=True)

    index: int
    start: float  # seconds, on a frame boundary
    frames: int
    duration: float  # frames / fps
    score: float
    transition: Transition
    loudness: float | None  # integrated LUFS; None when the source has no audio
    true_peak: float | None  # dBTP


class Framing(BaseModel):
    """Crop window in the displayed source picture; the reel keeps the crop's size."""

    model_config = ConfigDict(frozen=True)

    width: int
    height: int
    x: int
    y: int


class Plan(BaseModel):
    """What render will produce."""

    model_config = ConfigDict(frozen=True)

    segments: list[Segment]
    framing: Framing | None  # None: the full source picture
    frame_rate: str
    auto_selected: bool


async def analyze(source: SourceInfo, spec: JobSpec, *, binaries: Binaries) -> Plan:
    """Choose the clips (the client's or automatic), measure each one's loudness, choose framing."""
    path = Path(source.path)
    auto = not spec.highlights
    if spec.highlights:
        clips = plan_clips(spec.highlights, source.duration)
        if not clips:
            raise InputError(
                "no_clips_in_source",
                f"Every highlight lies past the end of the source, which is {source.duration:.1f} s long: "
                "give start_time and end_time within it.",
            )
    else:
        curve = await short_term_curve(binaries.ffmpeg, path) if source.has_audio else []
        clips = auto_clips(curve, source.duration)
    fps = Fraction(source.frame_rate)
    snapped = [snap(c, fps, source.duration) for c in clips]
    # Measure each clip as it will sound, fades included, so the gain lands the rendered clip on target.
    ranges = [
        TimeRange(start, float(frames / fps), tuple(audio_fades(clip.transition, float(frames / fps))))
        for clip, (start, frames) in zip(clips, snapped, strict=True)
    ]
    measures = await measure_ranges(binaries.ffmpeg, path, ranges) if source.has_audio else [None] * len(ranges)
    segments = [
        Segment(
            index=i,
            start=start,
            frames=frames,
            duration=float(frames / fps),
            score=clip.score,
            transition=clip.transition,
            loudness=m.integrated if m else None,
            true_peak=m.true_peak if m else None,
        )
        for i, (clip, (start, frames), m) in enumerate(zip(clips, snapped, measures, strict=True))
    ]
    return Plan(
        segments=segments,
        framing=framing_for(spec.output.aspect_ratio, source.width, source.height),
        frame_rate=source.frame_rate,
        auto_selected=auto,
    )


def snap(clip: Clip, fps: Fraction, source_duration: float) -> tuple[float, int]:
    """Start on a frame boundary and a whole number of frames that stays inside the source."""
    first = round(clip.start * fps)
    last = min(round(clip.end * fps), int(source_duration * fps))
    return float(first / fps), max(1, last - first)


def framing_for(aspect: AspectRatio, width: int, height: int) -> Framing | None:
    """Centre crop to the requested aspect ratio, even-sized for 4:2:0; None keeps the picture."""
    if aspect == "source":
        return None
    num, den = (int(p) for p in aspect.split(":"))
    target = Fraction(num, den)
    if Fraction(width, height) > target:
        crop_h = height
        crop_w = int(height * target)
    else:
        crop_w = width
        crop_h = int(width / target)
    crop_w -= crop_w % 2
    crop_h -= crop_h % 2
    if (crop_w, crop_h) == (width - width % 2, height - height % 2):
        return None
    return Framing(width=crop_w, height=crop_h, x=(width - crop_w) // 4 * 2, y=(height - crop_h) // 4 * 2)
