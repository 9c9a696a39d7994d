"""A finished job's result: the figures a client reads, built from what the stages returned."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.ai.ports import AIReport
from app.domain.crop import CropKey
from app.domain.spec import Layout
from app.stages.analyze import Plan
from app.stages.analyze import Segment as PlannedSegment
from app.stages.render import RenderMode, gain_db
from app.stages.validate import SourceInfo
from app.stages.verify import Verification, Verified


class CropWindow(BaseModel):
    """The crop window at source time `t` (linear to the next; two at one time are a cut), in source pixels."""

    model_config = ConfigDict(frozen=True)

    t: float
    x: int
    y: int
    w: int
    h: int
    track: int | None = Field(default=None, description="the face track framed from here on; null: no face")
    why: str | None = Field(
        default=None,
        description="speaker: the person seen talking; largest: the largest face (nobody seen talking, or "
        "output.framing says so); motion: no face, following what moves; centre: nothing to follow",
    )


class Segment(BaseModel):
    """One clip as delivered: where it came from and what was done to its sound."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    score: float
    source_loudness: float | None  # integrated LUFS of the range in the source
    gain_db: float  # everything applied to its sound: the render's gain plus any correction at the join
    loudness: float | None  # integrated LUFS as delivered, fades excluded; None when silent
    silent: bool  # under the audible floor (room tone): left as it was, outside the spread
    reasons: list[str]  # "client", or the features that chose the clip (speech, motion, faces, loudness, cuts)
    crop_path: list[CropWindow]  # the crop window over time; empty when the reel keeps the source's picture
    layout: Layout = Field(default="single", description="split: two people stacked; crop_path is the top half")
    crop_paths: list[list[CropWindow]] = Field(
        default=[], description="with layout split, the windows of the top and the bottom half; else empty"
    )
    render_mode: RenderMode = Field(
        default="encode",
        description="smart: the source's GOPs copied between encoded edges; encode: every frame encoded",
    )
    render_reason: str | None = Field(default=None, description="why the clip was encoded whole; null when smart")
    copied_frames: int = Field(default=0, description="frames copied from the source, not encoded")
    title: str | None = None  # the AI ranker's name for the clip


class JobResult(BaseModel):
    """The figures a finished job reports; the keys are part of the public contract."""

    model_config = ConfigDict(frozen=True)

    output_path: str | None = Field(
        default=None, description="the reel on the server's disk: only for the local store and `smartedit process`"
    )
    output_url: str | None = Field(default=None, description="where to download the reel: GET /jobs/{id}/output")
    thumbnail_url: str | None = Field(default=None, description="the reel's poster frame: GET /jobs/{id}/thumbnail")
    output_expires_at: datetime | None = Field(default=None, description="when the reel is deleted (OUTPUT_TTL)")
    output_expired: bool = Field(default=False, description="the reel was deleted; /output answers 410")
    captions_url: str | None = Field(
        default=None, description="WebVTT of what is said, timed to the reel: GET /jobs/{id}/captions"
    )
    captions_path: str | None = Field(
        default=None, description="the captions on the server's disk: only for the local store and `smartedit process`"
    )
    color_space: str
    audio_loudness: float | None
    loudness_spread_lu: float | None
    segments_processed: int
    segments: list[Segment]
    duration: float
    source_duration: float
    processing_seconds: float
    processing_ratio: float
    stage_seconds: dict[str, float]
    auto_selected: bool
    output_size: int
    output_sha256: str
    cost_usd: float = Field(description="USD this job spent on paid APIs: its total in the cost ledger")
    ai: AIReport | None = Field(
        default=None, description="what AI ranking did and why; null only in results recorded before it existed"
    )
    verification: Verification


def job_result(info: SourceInfo, plan: Plan, verified: Verified, seconds: dict[str, float]) -> JobResult:
    """The result of a job whose reel passed verification, in the contract's shape."""
    processing = sum(seconds.values())
    reel, report = verified.reel, verified.report
    joined = reel.join_gains_db or [0.0] * len(plan.segments)
    measured = report.clip_loudness or [None] * len(plan.segments)
    return JobResult(
        output_path=reel.path,
        captions_path=verified.captions.path if verified.captions else None,
        color_space="bt709",
        audio_loudness=report.audio_loudness,
        loudness_spread_lu=report.loudness_spread_lu,
        segments_processed=len(plan.segments),
        segments=[
            Segment(
                start=s.start,
                end=round(s.start + s.duration, 6),
                score=s.score,
                source_loudness=s.loudness,
                gain_db=round(gain_db(s) + extra, 2),
                loudness=loudness,
                silent=s.index in report.silent_clips or loudness is None,
                reasons=s.reasons,
                crop_path=_crop_path(s.crop, s, plan),
                layout=s.layout,
                crop_paths=[_crop_path(s.crop, s, plan), _crop_path(s.crop_bottom, s, plan)]
                if s.layout == "split"
                else [],
                render_mode=clip.render_mode,
                render_reason=clip.render_reason,
                copied_frames=clip.copied_frames,
                title=s.title,
            )
            for s, extra, loudness, clip in zip(plan.segments, joined, measured, reel.clips, strict=True)
        ],
        duration=report.duration,
        source_duration=info.duration,
        processing_seconds=round(processing, 3),
        processing_ratio=round(processing / info.duration, 4),
        stage_seconds=seconds,
        auto_selected=plan.auto_selected,
        output_size=reel.size,
        output_sha256=reel.sha256,
        cost_usd=plan.ai.spent_usd,
        ai=plan.ai,
        verification=report,
    )


def _crop_path(keys: list[CropKey], segment: PlannedSegment, plan: Plan) -> list[CropWindow]:
    f = plan.framing
    if f is None:
        return []
    w, h = (f.half_width, f.half_height) if segment.layout == "split" else (f.width, f.height)
    assert w is not None and h is not None
    keys = keys or [CropKey(t=segment.start, x=0, y=0)]
    return [CropWindow(t=k.t, x=k.x, y=k.y, w=w, h=h, track=k.track, why=k.why) for k in keys]
