"""What a client asks for: the job specification shared by the API, the store and the pipeline."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"]
AspectRatio = Literal["source", "16:9", "9:16", "1:1", "4:5"]
Transition = Literal["fade", "cut"]
MAX_INPUT_PATH = 1024  # characters; far beyond any real layout, far below what a filesystem refuses


class Highlight(BaseModel):
    """A time range of the source the client wants in the reel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_time: float = Field(ge=0, description="seconds from the start of the source")
    end_time: float = Field(gt=0, description="seconds from the start of the source")
    score: float = Field(default=0.5, ge=0, le=1, description="higher is kept first when trimming to 5 clips")
    transition: Transition = Field(default="fade", description="fade in/out at the clip's edges, or a hard cut")

    @model_validator(mode="after")
    def _end_after_start(self) -> Highlight:
        if self.end_time <= self.start_time:
            raise ValueError(f"end_time ({self.end_time}) must be after start_time ({self.start_time})")
        return self


class OutputOptions(BaseModel):
    """How the reel is encoded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aspect_ratio: AspectRatio = Field(default="source", description="centre crop to this ratio, or keep the source's")
    crf: int = Field(default=18, ge=14, le=30, description="libx264 constant rate factor; lower is better and bigger")
    preset: Preset = Field(default="fast", description="libx264 preset; slower is smaller at the same quality")


class JobSpec(BaseModel):
    """Everything the pipeline needs to know about one job."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_path: str = Field(
        min_length=1, max_length=MAX_INPUT_PATH, description="path of the source, relative to MEDIA_ROOT"
    )
    highlights: list[Highlight] | None = Field(default=None, max_length=100)
    output: OutputOptions = Field(default_factory=OutputOptions)
    webhook_url: str | None = Field(default=None, max_length=2048)
