"""Stage 2: the final clip list (the client's, or picked from the media), each clip's loudness, and its framing.

What is decoded depends on what the job needs: the whole source once when clips are picked
automatically; only the client's ranges (± 1.5 s) when they are reframed or their edges snapped;
nothing at all for a source-shaped reel of exact client ranges. One decode feeds every analyser
(`media/decode.py`, named pipes); the analysers themselves are pure (`analysis/`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from app.ai.ports import AIReport, Cue, Ranker
from app.analysis.edges import EDGE_IN_SPEECH
from app.analysis.features import SourceAnalyser, SourceFeatures
from app.analysis.picker import propose_highlights, snap_edges
from app.analysis.reframe import ASPECTS, crop_size, reframe, source_content
from app.errors import InputError
from app.media.decode import decode
from app.media.ffmpeg import Binaries
from app.media.loudness import TimeRange, measure_ranges
from app.spec import JobSpec, Transition
from app.stages.framing import CropKey, Framing, keys_of, output_size
from app.stages.ranking import CANDIDATES, Chosen, choose
from app.stages.segments import Clip, plan_clips
from app.stages.transitions import audio_fades
from app.stages.validate import SourceInfo

ProgressHook = Callable[[float], Awaitable[None]]
RANGE_MARGIN = 1.5  # seconds decoded around a client's range: room to snap an edge, and the shot it opens in
FACE_INTERVAL = 0.5  # seconds between face detections


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
    peak: float | None = None  # source seconds of the clip's best-scored moment, when the picker chose it
    title: str | None = None  # the AI ranker's name for the clip
    cues: list[Cue] = []  # what is said in the clip, in source seconds (from the transcript, when there is one)


class Plan(BaseModel):
    """What render will produce."""

    model_config = ConfigDict(frozen=True)

    segments: list[Segment]
    framing: Framing | None  # None: the full source picture at its own size
    frame_rate: str
    auto_selected: bool
    ai: AIReport = AIReport(used=False, reason="disabled")


async def analyze(
    source: SourceInfo,
    spec: JobSpec,
    *,
    binaries: Binaries,
    work_dir: Path,
    on_progress: ProgressHook | None = None,
    ranker: Ranker | None = None,
    job_id: str = "",
) -> Plan:
    """Choose the clips (the client's, or automatic and ranked), measure each one's loudness, frame each one."""
    path = Path(source.path)
    options = spec.output
    reframing = options.aspect_ratio != "source"
    clips: list[tuple[Clip, list[str]]] = []
    chosen: list[Chosen] = []
    report = AIReport(used=False, reason="client_highlights")
    if spec.highlights:
        clips = [(c, ["client"]) for c in plan_clips(spec.highlights, source.duration)]
        if not clips:
            raise InputError(
                "no_clips_in_source",
                f"Every highlight lies past the end of the source, which is {source.duration:.1f} s long: "
                "give start_time and end_time within it.",
            )
    features = None
    if not spec.highlights or reframing or options.snap_edges:
        ranges = None if not spec.highlights else _around([c for c, _ in clips], source.duration)
        features = await _features(
            source,
            binaries=binaries,
            work_dir=work_dir,
            ranges=ranges,
            audio=not spec.highlights or options.snap_edges,
            on_progress=on_progress,
        )
    if not spec.highlights:
        assert features is not None
        proposal = propose_highlights(
            features, max_duration=options.max_duration, candidates=CANDIDATES if ranker else 0
        )
        chosen, report = await choose(proposal, source, ranker=ranker, job_id=job_id, features=features)
        clips = [(c.clip, c.reasons) for c in chosen]
    elif options.snap_edges:
        assert features is not None
        clips = [_snapped(c, reasons, features, source.duration) for c, reasons in clips]

    fps = Fraction(source.frame_rate)
    snapped = [snap(c, fps, source.duration) for c, _ in clips]
    # Measure each clip as it will sound, fades included, so the gain lands the rendered clip on target.
    ranges_measured = [
        TimeRange(start, float(frames / fps), tuple(audio_fades(clip.transition, float(frames / fps))))
        for (clip, _), (start, frames) in zip(clips, snapped, strict=True)
    ]
    measures = (
        await measure_ranges(binaries.ffmpeg, path, ranges_measured)
        if source.has_audio
        else [None] * len(ranges_measured)
    )
    framing, crops = _framing(source, spec, features, snapped, fps)
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
            reasons=reasons,
            crop=crop,
            title=chosen[i].title if chosen else None,
            peak=chosen[i].peak if chosen else None,
            cues=chosen[i].cues if chosen else [],
        )
        for i, ((clip, reasons), (start, frames), m, crop) in enumerate(
            zip(clips, snapped, measures, crops, strict=True)
        )
    ]
    return Plan(
        segments=segments, framing=framing, frame_rate=source.frame_rate, auto_selected=not spec.highlights, ai=report
    )


async def _features(
    source: SourceInfo,
    *,
    binaries: Binaries,
    work_dir: Path,
    ranges: Sequence[tuple[float, float]] | None,
    audio: bool,
    on_progress: ProgressHook | None,
) -> SourceFeatures:
    """One decode of what is needed, fed to every analyser."""
    analyser = SourceAnalyser(face_interval=FACE_INTERVAL)
    work_dir.mkdir(parents=True, exist_ok=True)

    def on_audio(t: float, pcm: np.ndarray) -> None:
        analyser.add_audio(pcm, t)

    await decode(
        binaries.ffmpeg,
        Path(source.path),
        source.media,
        work_dir,
        on_frame=analyser.add_frame,
        on_audio=on_audio if audio and source.has_audio else None,
        ranges=ranges,
        on_progress=on_progress,
    )
    return analyser.result()


def _around(clips: Sequence[Clip], duration: float) -> list[tuple[float, float]]:
    """The clips' ranges widened by RANGE_MARGIN, clamped to the source, overlaps merged."""
    ranges: list[tuple[float, float]] = []
    for c in sorted(clips, key=lambda c: c.start):
        start, end = max(0.0, c.start - RANGE_MARGIN), min(duration, c.end + RANGE_MARGIN)
        if ranges and start <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((start, end))
    return ranges


def _snapped(
    clip: Clip, reasons: list[str], features: SourceFeatures, source_duration: float
) -> tuple[Clip, list[str]]:
    edges = snap_edges(clip.start, clip.end, features, source_duration=source_duration)
    said = [*reasons, EDGE_IN_SPEECH] if edges.in_speech else reasons
    return Clip(edges.start, edges.end, clip.score, clip.transition), said


def _framing(
    source: SourceInfo,
    spec: JobSpec,
    features: SourceFeatures | None,
    snapped: Sequence[tuple[float, int]],
    fps: Fraction,
) -> tuple[Framing | None, list[list[CropKey]]]:
    """The crop size and the reel's size, and each clip's crop path (empty when the crop does not move)."""
    options = spec.output
    size = (source.width, source.height)
    none: list[list[CropKey]] = [[] for _ in snapped]
    if options.aspect_ratio == "source" or features is None:
        width, height = source.width - source.width % 2, source.height - source.height % 2
        out = output_size(width, height, options.resolution)
        plain = (width, height) == size and out == (width, height)
        return (None if plain else Framing(width=width, height=height, output_width=out[0], output_height=out[1])), none
    content = source_content(features, size)
    width, height = crop_size(options.aspect_ratio, content)
    out = output_size(width, height, options.resolution, ASPECTS[options.aspect_ratio])
    framing = Framing(width=width, height=height, output_width=out[0], output_height=out[1])
    paths = [
        keys_of(reframe(features, start, start + float(frames / fps), aspect=options.aspect_ratio, source_size=size))
        for start, frames in snapped
    ]
    return framing, paths


def snap(clip: Clip, fps: Fraction, source_duration: float) -> tuple[float, int]:
    """Start on a frame boundary and a whole number of frames that stays inside the source."""
    first = round(clip.start * fps)
    last = min(round(clip.end * fps), int(source_duration * fps))
    return float(first / fps), max(1, last - first)
