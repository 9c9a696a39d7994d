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
from app.analysis.reframe import ASPECTS, crop_size, reframe, reframe_split, source_content, split_size
from app.domain.errors import InputError
from app.domain.intervals import Interval, clamp, merge
from app.domain.spec import JobSpec, Layout, Transition
from app.media.decode import DecodeOptions, decode
from app.media.ffmpeg import Binaries
from app.media.loudness import TimeRange, measure_ranges
from app.stages.framing import CropKey, Framing, keys_of, output_size
from app.stages.ranking import CANDIDATES, Chosen, choose
from app.stages.segments import Clip, plan_clips
from app.stages.transitions import audio_fades
from app.stages.validate import SourceInfo

ProgressHook = Callable[[float], Awaitable[None]]
RANGE_MARGIN = 1.5  # seconds decoded around a client's range: room to snap an edge, and the shot it opens in
FACE_INTERVAL = 1.0  # seconds between face detections when the crop follows faces (tracks bridge the gaps)
RANKING_FACE_INTERVAL = 2.0  # when faces only score seconds for the picker: half the detector's cost


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
            audio=not spec.highlights or options.snap_edges or (reframing and options.framing == "speaker"),
            faces=reframing or not spec.highlights,
            framing=reframing,
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
    layouts: list[tuple[Layout, list[CropKey], list[CropKey]]] = [
        ("split", c[0], c[1]) if len(c) == 2 else ("single", c[0], []) for c in crops
    ]
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
            layout=layout,
            crop_bottom=bottom,
            title=chosen[i].title if chosen else None,
            peak=chosen[i].peak if chosen else None,
            cues=chosen[i].cues if chosen else [],
        )
        for i, ((clip, reasons), (start, frames), m, (layout, crop, bottom)) in enumerate(
            zip(clips, snapped, measures, layouts, strict=True)
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
    faces: bool,
    framing: bool,
    on_progress: ProgressHook | None,
) -> SourceFeatures:
    """One decode of what is needed, fed to every analyser.

    Pictures for the face detector only when faces matter: at 10 a second with a detection every
    FACE_INTERVAL when the crop follows them (mouths are measured on every picture); one a second with a
    detection every RANKING_FACE_INTERVAL, at the quick size only (faces from 10 % of the frame height),
    when they only score seconds for the picker.
    """
    interval = FACE_INTERVAL if framing else RANKING_FACE_INTERVAL
    analyser = SourceAnalyser(face_interval=interval, small_faces=framing)
    options = DecodeOptions() if framing else DecodeOptions(picture_rate=1.0)
    work_dir.mkdir(parents=True, exist_ok=True)

    def on_audio(t: float, pcm: np.ndarray) -> None:
        analyser.add_audio(pcm, t)

    def on_channels(t: float, pcm: np.ndarray) -> None:
        analyser.add_channels(pcm, t)

    await decode(
        binaries.ffmpeg,
        Path(source.path),
        source.media,
        work_dir,
        on_frame=analyser.add_frame,
        on_picture=analyser.add_picture if faces else None,
        on_audio=on_audio if audio and source.has_audio else None,
        on_channels=on_channels if audio and source.has_audio else None,
        ranges=ranges,
        options=options,
        on_progress=on_progress,
    )
    return analyser.result()


def _around(clips: Sequence[Clip], duration: float) -> list[Interval]:
    """The clips' ranges widened by RANGE_MARGIN, clamped to the source, overlaps merged."""
    return merge(clamp((c.start - RANGE_MARGIN, c.end + RANGE_MARGIN), 0.0, duration) for c in clips)


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
) -> tuple[Framing | None, list[list[list[CropKey]]]]:
    """The crop size and the reel's size, and each clip's crop paths: one, or two (top, bottom) when split."""
    options = spec.output
    size = (source.width, source.height)
    sar = float(source.media.video.sar) if source.media.video else 1.0
    none: list[list[list[CropKey]]] = [[[]] for _ in snapped]
    if options.aspect_ratio == "source" or features is None:
        width, height = source.width - source.width % 2, source.height - source.height % 2
        out = output_size(round(width * sar), height, options.resolution)
        plain = (width, height) == size and out == (width, height)
        return (None if plain else Framing(width=width, height=height, output_width=out[0], output_height=out[1])), none
    content = source_content(features, size)
    width, height = crop_size(options.aspect_ratio, content, sar)
    out = output_size(round(width * sar), height, options.resolution, ASPECTS[options.aspect_ratio])
    half = split_size(content, sar) if options.layout == "split" else None
    framing = Framing(
        width=width,
        height=height,
        output_width=out[0],
        output_height=out[1],
        half_width=half[0] if half else None,
        half_height=half[1] if half else None,
    )
    paths: list[list[list[CropKey]]] = []
    for start, frames in snapped:
        end = start + float(frames / fps)
        pair = reframe_split(features, start, end, source_size=size, sar=sar) if half else None
        if pair is not None:
            paths.append([keys_of(pair[0]), keys_of(pair[1])])
            continue
        path = reframe(
            features, start, end, aspect=options.aspect_ratio, source_size=size, sar=sar, framing=options.framing
        )
        paths.append([keys_of(path)])
    return framing, paths


def snap(clip: Clip, fps: Fraction, source_duration: float) -> tuple[float, int]:
    """Start on a frame boundary and a whole number of frames that stays inside the source."""
    first = round(clip.start * fps)
    last = min(round(clip.end * fps), int(source_duration * fps))
    return float(first / fps), max(1, last - first)
