"""A finished job's result: the figures a client reads, built from what the stages returned."""

from __future__ import annotations

from app.domain.crop import CropKey
from app.domain.result import CropWindow, JobResult, Segment
from app.stages.analyze import Plan
from app.stages.analyze import Segment as PlannedSegment
from app.stages.render import gain_db
from app.stages.validate import SourceInfo
from app.stages.verify import Verified


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
