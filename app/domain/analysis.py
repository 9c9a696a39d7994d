"""What a completed job's analysis shows a person: the source's timeline, the picker's score, the clips and crops.

The contract's `JobAnalysis` (`GET /jobs/{id}/analysis`), written once by the job's `timeline` stage and never
changed. Times are source seconds; boxes and crop windows are `[t, x, y, w, h]` with x, y, w, h normalised
0..1 of the displayed picture, so a page draws them over a player of any size.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.domain.spec import Layout

Span = tuple[float, float]
Box = tuple[float, float, float, float, float]  # t, x, y, w, h


class AnalysedSource(BaseModel):
    """The source as validation saw it, and whether a browser plays it as it is (`GET /jobs/{id}/source`)."""

    model_config = ConfigDict(frozen=True)

    duration: float
    frame_rate: str
    width: int = Field(description="as displayed, after rotation")
    height: int
    sample_aspect_ratio: str
    has_audio: bool
    playable: bool = Field(description="H.264 (8-bit 4:2:0) with AAC or no audio, in MP4/MOV")


class SourceFeaturesView(BaseModel):
    """Each analyser's value per `step` seconds (index i covers [i, i + 1) × step); null where not analysed."""

    model_config = ConfigDict(frozen=True)

    loudness: list[float | None] = Field(description="dB of the mean square, full scale 0")
    speech: list[float | None] = Field(description="share of the second with speech, 0..1")
    motion: list[float | None] = Field(description="median frame difference, luma levels")
    faces: list[float | None] = Field(description="share of face detections that found a face, 0..1")
    cut_density: list[float | None] = Field(description="shot cuts starting in that second")


class Envelope(BaseModel):
    """The loudness envelope for drawing: dBFS per `step` seconds from 0 s; null where no audio was decoded."""

    model_config = ConfigDict(frozen=True)

    step: float
    db: list[float | None]


class FaceTrackView(BaseModel):
    """One face followed through a shot: its boxes over time (`track` is what a crop key's `track` names)."""

    model_config = ConfigDict(frozen=True)

    track: int
    boxes: list[Box]


class ClipView(BaseModel):
    """One clip of the reel as planned: its source range, why it was chosen, and its crop window over time."""

    model_config = ConfigDict(frozen=True)

    index: int
    start: float
    end: float
    score: float
    reasons: list[str]
    title: str | None
    layout: Layout
    crop: list[Box] = Field(description="the crop window over time, linear between entries; [] for the whole picture")
    crop_bottom: list[Box] = Field(description="with layout split, the bottom half's window; else []")
    crop_tracks: list[int | None] = Field(
        default=[],
        description="for each entry of `crop`, the face track it frames (a `faces[].track`); null: no face "
        "(it follows the motion or holds the centre)",
    )


class Filmstrip(BaseModel):
    """The sprite at `GET /jobs/{id}/filmstrip`: `count` tiles of `tile` px, `columns` a row, left to right.

    Tile i shows the source at about i × `interval` s: the last keyframe at or before it (a keyframe-only
    decode); `times` says exactly when each tile's keyframe is, so a source with sparse keyframes is not misread.
    """

    model_config = ConfigDict(frozen=True)

    interval: float
    tile: tuple[int, int]
    columns: int
    count: int
    times: list[float] = Field(default=[], description="source seconds of the keyframe each tile shows")


class JobAnalysis(BaseModel):
    """A completed job's analysis: what the page draws on the source's timeline."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    source: AnalysedSource
    analysed: bool = Field(
        description="false: nothing was decoded (exact client ranges at the source's aspect); the arrays are empty"
    )
    step: float = Field(description="seconds per entry of `score` and of each `features` array")
    score: list[float] = Field(description="the picker's per-second score 0..1; [] when it did not run")
    features: SourceFeaturesView
    envelope: Envelope
    speech: list[Span] = Field(description="speech regions")
    pauses: list[Span] = Field(description="pauses between words: where an edge may snap")
    shots: list[float] = Field(description="shot cuts")
    faces: list[FaceTrackView]
    clips: list[ClipView]
    filmstrip: Filmstrip | None
