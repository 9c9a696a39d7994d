"""The reel's clips: the client's (their edges snapped on request), or picked from the media and ranked.

What is decoded depends on what the job needs: the whole source once when clips are picked
automatically; only the client's ranges (± 1.5 s) when they are reframed or their edges snapped;
nothing at all for a source-shaped reel of exact client ranges. One decode feeds every analyser
(`media/decode.py`, named pipes); the analysers themselves are pure (`analysis/`). What they found
is kept for the framing (`stages/framing.py`).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from app.ai.ports import Ranker
from app.analysis.edges import EDGE_IN_SPEECH
from app.analysis.features import SourceAnalyser, SourceFeatures
from app.analysis.picker import propose_highlights, snap_edges
from app.domain.errors import InputError
from app.domain.intervals import Interval, clamp, merge
from app.domain.result import AIReport
from app.domain.spec import JobSpec
from app.media.decode import DecodeOptions, decode
from app.media.ffmpeg import Binaries
from app.stages.ranking import CANDIDATES, Chosen, choose
from app.stages.segments import Clip, plan_clips
from app.stages.validate import SourceInfo

StageProgress = Callable[[float], Awaitable[None]]
RANGE_MARGIN = 1.5  # seconds decoded around a client's range: room to snap an edge, and the shot it opens in
FACE_INTERVAL = 1.0  # seconds between face detections when the crop follows faces (tracks bridge the gaps)
RANKING_FACE_INTERVAL = 2.0  # when faces only score seconds for the picker: half the detector's cost


@dataclass(frozen=True)
class Choice:
    """The reel's clips in source order, what AI ranking did, and the media's analysis (None: nothing decoded)."""

    clips: list[Chosen]
    ai: AIReport
    features: SourceFeatures | None
    reused: bool = False  # the features are a base job's (`based_on`): nothing was decoded


async def choose_clips(
    source: SourceInfo,
    spec: JobSpec,
    *,
    binaries: Binaries,
    work_dir: Path,
    on_progress: StageProgress | None,
    ranker: Ranker | None,
    job_id: str,
    reuse: SourceFeatures | None = None,
) -> Choice:
    """The client's clips, or automatic ones (ranked when there is a ranker), and the analysis of one decode.

    `reuse`: a base job's features, used instead of a decode when they hold everything this job needs.
    """
    options = spec.output
    reframing = options.aspect_ratio != "source"
    clips: list[Chosen] = []
    if spec.highlights:
        clips = [Chosen(c, ["client"], None, []) for c in plan_clips(spec.highlights, source.duration)]
        if not clips:
            raise InputError(
                "no_clips_in_source",
                f"Every highlight lies past the end of the source, which is {source.duration:.1f} s long: "
                "give start_time and end_time within it.",
            )
    features, reused = None, False
    if not spec.highlights or reframing or options.snap_edges:
        ranges = None if not spec.highlights else _around([c.clip for c in clips], source.duration)
        need = Needs(
            audio=source.has_audio
            and bool(not spec.highlights or options.snap_edges or (reframing and options.framing == "speaker")),
            faces=reframing or not spec.highlights,
            framing=reframing,
        )
        if reuse is not None and covers(reuse, ranges, need, source.duration):
            features, reused = reuse, True
        else:
            features = await _features(
                source,
                binaries=binaries,
                work_dir=work_dir,
                ranges=ranges,
                audio=need.audio,
                faces=need.faces,
                framing=need.framing,
                on_progress=on_progress,
            )
    if not spec.highlights:
        assert features is not None
        proposal = propose_highlights(
            features, max_duration=options.max_duration, candidates=CANDIDATES if ranker else 0
        )
        chosen, report = await choose(proposal, source, ranker=ranker, job_id=job_id, features=features)
        return Choice(chosen, report, features, reused)
    if options.snap_edges:
        assert features is not None
        clips = [_snapped(c, features, source.duration) for c in clips]
    return Choice(clips, AIReport(used=False, reason="client_highlights"), features, reused)


@dataclass(frozen=True)
class Needs:
    """What a job's analysis must hold: the sound (speech, pauses, level), faces, and faces as framing follows them
    (detected every FACE_INTERVAL on pictures at 10 a second, not every RANKING_FACE_INTERVAL)."""

    audio: bool
    faces: bool
    framing: bool


def covers(
    features: SourceFeatures, ranges: Sequence[tuple[float, float]] | None, need: Needs, duration: float
) -> bool:
    """Whether `features` (a base job's) hold what a decode of `ranges` (None: the whole source) would give."""
    if need.framing and features.face_interval > FACE_INTERVAL:
        return False
    seconds = [(0, math.floor(duration))] if ranges is None else [(math.floor(a), math.ceil(b)) for a, b in ranges]
    grids = [features.cut_density]
    grids += [features.loudness] if need.audio else []
    grids += [features.faces] if need.faces else []
    for grid in grids:
        for a, b in seconds:
            part = grid[a : min(b, math.floor(duration))]
            if len(part) < min(b, math.floor(duration)) - a or bool(np.isnan(part).any()):
                return False
    return True


async def _features(
    source: SourceInfo,
    *,
    binaries: Binaries,
    work_dir: Path,
    ranges: Sequence[tuple[float, float]] | None,
    audio: bool,
    faces: bool,
    framing: bool,
    on_progress: StageProgress | None,
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


def _snapped(chosen: Chosen, features: SourceFeatures, source_duration: float) -> Chosen:
    clip = chosen.clip
    edges = snap_edges(clip.start, clip.end, features, source_duration=source_duration)
    said = [*chosen.reasons, EDGE_IN_SPEECH] if edges.in_speech else chosen.reasons
    return replace(chosen, clip=Clip(edges.start, edges.end, clip.score, clip.transition), reasons=said)
