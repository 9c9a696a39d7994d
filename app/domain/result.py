"""What a finished job reports: the result models of the public contract, built by `stages/result.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.domain.spec import Layout

RenderMode = Literal["smart", "encode"]


class AIReport(BaseModel):
    """What AI ranking did for a job: `used` when its choice made the reel; else `reason` says why not."""

    model_config = ConfigDict(frozen=True)

    used: bool
    reason: str | None = None  # disabled, client_highlights, no_audio, no_choice, unpriced, budget, timeout,
    # unavailable, rate_limited, unauthorized, rejected, invalid_response, audio_failed
    spent_usd: float = 0.0  # the job's ledger total
    candidates: int = 0  # windows the offline picker proposed
    transcribed: int = 0  # transcripts paid for by this analysis (a resumed job finds earlier ones in the cache)
    cached: int = 0  # transcripts reused from the cache


class Verification(BaseModel):
    """What the reel measured, and which targets it met."""

    model_config = ConfigDict(frozen=True)

    color_primaries: str | None
    color_transfer: str | None
    color_space: str | None
    pix_fmt: str | None
    width: int
    height: int
    duration: float
    expected_duration: float
    audio_loudness: float | None  # integrated LUFS of the whole reel; None when nothing in it is audible
    true_peak: float | None  # dBTP of the whole reel
    clip_loudness: list[float | None]  # per clip, fades excluded; None for a silent clip
    clip_true_peak: list[float | None]
    silent_clips: list[int]  # indexes of clips under the audible floor: left as they were
    loudness_spread_lu: float | None
    corrections: int = 0  # re-joins with corrected gains it took to pass
    checks: dict[str, bool]
    passed: bool


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
