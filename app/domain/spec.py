"""What a client asks for: the job specification shared by the API, the store and the pipeline."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.domain.clip_limits import MAX_CLIPS, MIN_CLIP_SECONDS

Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"]
AspectRatio = Literal["source", "16:9", "9:16", "1:1", "4:5"]
Resolution = Literal["source", "720p", "1080p"]
Transition = Literal["fade", "cut"]
RenderMode = Literal["auto", "encode"]
Framing = Literal["speaker", "largest", "centre"]
Layout = Literal["single", "split"]
DEFAULT_CRF = 18
MAX_HIGHLIGHTS_CEILING = 1000  # what MAX_HIGHLIGHTS may be raised to; the schema's bound, so the setting rules
DEFAULT_PRESET: Preset = "fast"
SOURCE_FIELDS = ("input_path", "input_url", "input_upload", "based_on")  # a job names exactly one
MAX_INPUT_PATH = 1024  # characters; far beyond any real layout, far below what a filesystem refuses


class Highlight(BaseModel):
    """A time range of the source the client wants in the reel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_time: float = Field(ge=0, description="seconds from the start of the source")
    end_time: float = Field(gt=0, description="seconds from the start of the source")
    score: float = Field(
        default=0.5, ge=0, le=1, description=f"higher is kept first when trimming to {MAX_CLIPS} clips"
    )
    transition: Transition = Field(default="fade", description="fade in/out at the clip's edges, or a hard cut")

    @model_validator(mode="after")
    def _end_after_start(self) -> Highlight:
        if self.end_time <= self.start_time:
            raise ValueError(f"end_time ({self.end_time}) must be after start_time ({self.start_time})")
        return self


class OutputOptions(BaseModel):
    """How the reel is encoded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aspect_ratio: AspectRatio = Field(
        default="source",
        description="reframe to this ratio, following the subject shot by shot; or keep the source's picture",
    )
    framing: Framing = Field(
        default="speaker",
        description="what a reframed crop follows: the person speaking (cutting to the next speaker), the largest "
        "face, or the centre; a shot without a face follows the motion",
    )
    layout: Layout = Field(
        default="single",
        description="split (9:16 only): two people who both speak in a clip are stacked top and bottom, each half "
        "following its own face; a clip with one speaker or none stays single",
    )
    resolution: Resolution = Field(
        default="source",
        description="the reel's short side: 720p or 1080p (a 9:16 reel at 1080p is 1080x1920), or the crop's own size",
    )
    max_duration: float = Field(
        default=300.0,
        ge=MIN_CLIP_SECONDS,  # room for one clip
        le=300,
        description="seconds of reel at most, when clips are picked automatically",
    )
    snap_edges: bool = Field(
        default=False,
        description="nudge your highlights' edges (at most 1.5 s) into pauses clear of shot cuts; off: exact edges",
    )
    crf: int | None = Field(
        default=None,
        ge=14,
        le=30,
        description="libx264 constant rate factor, lower is better and bigger; unset: 18. Setting it forces an encode",
    )
    preset: Preset | None = Field(
        default=None,
        description="libx264 preset, slower is smaller at the same quality; unset: fast. Setting it forces an encode",
    )
    render: RenderMode = Field(
        default="auto",
        description="auto: copy whole GOPs of an H.264 source that needs no change and encode only the clips' edges; "
        "encode: encode every frame",
    )

    @model_validator(mode="after")
    def _split_is_vertical(self) -> OutputOptions:
        if self.layout == "split" and self.aspect_ratio != "9:16":
            raise ValueError(f"layout 'split' stacks two 9:8 halves into a 9:16 reel: set aspect_ratio to '9:16' "
                             f"(it is '{self.aspect_ratio}')")
        return self

    @property
    def encoder_crf(self) -> int:
        """The CRF every encode uses: the client's, else the default."""
        return DEFAULT_CRF if self.crf is None else self.crf

    @property
    def encoder_preset(self) -> Preset:
        """The libx264 preset every encode uses: the client's, else the default."""
        return DEFAULT_PRESET if self.preset is None else self.preset


class JobSpec(BaseModel):
    """Everything the pipeline needs to know about one job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_path: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_INPUT_PATH,
        description="path of the source, relative to MEDIA_ROOT (local store only)",
    )
    input_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="the source as an `https://` URL, or `s3://bucket/key` (a prefix listed in INPUT_S3_ALLOW)",
    )
    input_upload: uuid.UUID | None = Field(default=None, description="an upload_id from POST /uploads")
    based_on: uuid.UUID | None = Field(
        default=None,
        description="a completed job of this API key whose source, and analysis when it covers the new "
        "highlights, this job reuses: nothing downloaded or decoded again. `output` left out is that job's",
    )
    highlights: list[Highlight] | None = Field(default=None, max_length=MAX_HIGHLIGHTS_CEILING)
    output: OutputOptions = Field(default_factory=OutputOptions)
    webhook_url: str | None = Field(default=None, max_length=2048)

    @model_validator(mode="after")
    def _one_source(self) -> JobSpec:
        given = [name for name in SOURCE_FIELDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one source: input_path, input_url, input_upload or based_on")
        return self

    @property
    def source_ref(self) -> str:
        """The source as the client named it: a path under MEDIA_ROOT or a URL."""
        if self.input_upload is not None:
            return f"upload:{self.input_upload}"
        if self.based_on is not None:
            return f"job:{self.based_on}"
        return self.input_path or self.input_url or ""
