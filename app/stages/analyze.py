"""Stage 2, the plan render follows: the reel's clips (`choose.py`), each one's loudness and framing (`framing.py`)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from app.ai.ports import Cue, Ranker
from app.analysis.features import SourceFeatures
from app.domain.crop import CropKey
from app.domain.result import AIReport
from app.domain.spec import JobSpec, Layout, Transition
from app.media.ffmpeg import Binaries
from app.media.loudness import TimeRange, measure_ranges
from app.stages.choose import StageProgress, choose_clips
from app.stages.framing import CropSize, frame_clips
from app.stages.segments import Clip
from app.stages.transitions import audio_fades, metered_part
from app.stages.validate import SourceInfo


class Segment(BaseModel):
    """One clip of the reel, snapped to the source's frame grid, with its measured loudness and crop path."""

    model_config = ConfigDict(frozen=True)

    index: int
    start: float  # seconds, on a frame boundary
    frames: int
    duration: float  # frames / fps
    score: float
    transition: Transition
    loudness: float | None  # integrated LUFS; None when the source has no audio
    true_peak: float | None  # dBTP
    reasons: list[str] = []  # what chose the clip: "client", or the features that scored it
    crop: list[CropKey] = []  # the crop window's corner over time (source seconds); empty: fixed at 0, 0
    layout: Layout = "single"  # split: `crop` is the top half's window and `crop_bottom` the bottom's
    crop_bottom: list[CropKey] = []
    peak: float | None = None  # source seconds of the clip's best-scored moment, when the picker chose it
    title: str | None = None  # the AI ranker's name for the clip
    cues: list[Cue] = []  # what is said in the clip, in source seconds (from the transcript, when there is one)


class Plan(BaseModel):
    """What render will produce."""

    model_config = ConfigDict(frozen=True)

    segments: list[Segment]
    framing: CropSize | None  # None: the full source picture at its own size
    frame_rate: str
    auto_selected: bool
    ai: AIReport = AIReport(used=False, reason="disabled")
    features: str | None = None  # what the one decode found (`SourceFeatures.to_json`); None: nothing was decoded
    reused_analysis: bool = False  # `features` are a base job's (`based_on`), not decoded again


async def analyze(
    source: SourceInfo,
    spec: JobSpec,
    *,
    binaries: Binaries,
    work_dir: Path,
    on_progress: StageProgress | None = None,
    ranker: Ranker | None = None,
    job_id: str = "",
    reuse: SourceFeatures | None = None,
) -> Plan:
    """Choose the clips (the client's, or automatic and ranked), measure each one's loudness, frame each one."""
    choice = await choose_clips(
        source,
        spec,
        binaries=binaries,
        work_dir=work_dir,
        on_progress=on_progress,
        ranker=ranker,
        job_id=job_id,
        reuse=reuse,
    )
    clips = [c.clip for c in choice.clips]
    fps = Fraction(source.frame_rate)
    snapped = [snap(c, fps, source.duration) for c in clips]
    # Loudness on the part verify will meter (fades left out), so the gain lands that part on target; the true
    # peak over the whole clip as it will sound (fades in), since the limiter must hold every sample of it. A clip
    # without fades is one range, metered once.
    lengths = [float(frames / fps) for _, frames in snapped]
    metered = [
        TimeRange(start + offset, length, true_peak=False)
        for clip, (start, _), whole in zip(clips, snapped, lengths, strict=True)
        for offset, length in [metered_part(clip.transition, whole)]
    ]
    heard = [
        TimeRange(start, whole, tuple(audio_fades(clip.transition, whole)))
        for clip, (start, _), whole in zip(clips, snapped, lengths, strict=True)
    ]
    found = await measure_ranges(binaries.ffmpeg, Path(source.path), metered + heard) if source.has_audio else []
    measures = [(found[i], found[len(clips) + i]) if found else None for i in range(len(clips))]
    framing, crops = frame_clips(source, spec.output, choice.features, snapped, fps)
    segments = [
        Segment(
            index=i,
            start=start,
            frames=frames,
            duration=float(frames / fps),
            score=c.clip.score,
            transition=c.clip.transition,
            loudness=m[0].integrated if m else None,
            true_peak=m[1].true_peak if m else None,
            reasons=c.reasons,
            crop=crop.crop,
            layout=crop.layout,
            crop_bottom=crop.crop_bottom,
            title=c.title,
            peak=c.peak,
            cues=c.cues,
        )
        for i, (c, (start, frames), m, crop) in enumerate(zip(choice.clips, snapped, measures, crops, strict=True))
    ]
    return Plan(
        segments=segments,
        framing=framing,
        frame_rate=source.frame_rate,
        auto_selected=not spec.highlights,
        ai=choice.ai,
        features=None if choice.features is None else choice.features.to_json(),
        reused_analysis=choice.reused,
    )


def snap(clip: Clip, fps: Fraction, source_duration: float) -> tuple[float, int]:
    """Start on a frame boundary and a whole number of frames that stays inside the source."""
    first = round(clip.start * fps)
    last = min(round(clip.end * fps), int(source_duration * fps))
    return float(first / fps), max(1, last - first)
