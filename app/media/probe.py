"""ffprobe into typed facts about a media file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from app.media.ffmpeg import run
from app.media.inputs import source_options

_MOV_FORMATS = ("mov", "mp4")


@dataclass(frozen=True)
class VideoStream:
    """The first video stream's format and colour facts, as ffprobe reports them."""

    codec: str
    width: int
    height: int
    frame_rate: str  # rational as ffprobe writes it, e.g. "30000/1001"
    pix_fmt: str | None
    color_primaries: str | None
    color_transfer: str | None
    color_space: str | None
    color_range: str | None
    rotation: int = 0
    duration: float | None = None
    sample_aspect_ratio: str | None = None  # "num:den" when ffprobe knows it (anamorphic sources)

    @property
    def sar(self) -> Fraction:
        """The sample aspect ratio as a number: 1 for square pixels, or when ffprobe gives none or nonsense."""
        try:
            num, _, den = (self.sample_aspect_ratio or "1:1").partition(":")
            value = Fraction(int(num), int(den or 1))
        except (ValueError, ZeroDivisionError):
            return Fraction(1)
        return value if value > 0 else Fraction(1)

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height after the rotation ffmpeg applies on decode."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class AudioStream:
    """The first audio stream's layout."""

    codec: str
    channels: int
    sample_rate: int


@dataclass(frozen=True)
class StreamFacts:
    """What the smart render must match or refuse: the first video stream's coding, as ffprobe reports it."""

    codec: str
    profile: str | None
    level: int | None  # level_idc: 31 is level 3.1
    pix_fmt: str | None
    bits: int | None
    field_order: str | None
    reorder_frames: int  # has_b_frames: how many frames a decoder holds back (the B-frame delay)
    length_prefixed: bool  # avc1/avc3 samples in an MP4/MOV, whose packet bytes sit whole in the file
    nal_length_size: int
    time_base: Fraction
    start_time: float  # the file's start, which ffmpeg's -ss counts from
    r_frame_rate: Fraction
    avg_frame_rate: Fraction
    rotation: int


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a file."""

    format_name: str
    duration: float
    size: int
    video: VideoStream | None
    audio: AudioStream | None
    # The coding of the stream `-map 0:v:0` copies: the first video stream, cover art included (`video`
    # skips it). None when the file has no video stream, or in a checkpoint saved before the probe read it.
    coding: StreamFacts | None = None


async def probe(ffprobe: str, path: Path) -> MediaInfo:
    """Probe `path`; raises FFmpegError when ffprobe cannot read it."""
    result = await run(
        ffprobe,
        ["-v", "error", *source_options(), "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_stdout=True,
    )
    return parse_probe(json.loads(result.stdout or b"{}"))


def parse_probe(data: dict[str, Any]) -> MediaInfo:
    """Turn ffprobe's JSON into MediaInfo."""
    fmt = data.get("format", {})
    streams = data.get("streams", [])
    first_video = next((s for s in streams if s.get("codec_type") == "video"), None)
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover_art(s)), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = _float(fmt.get("duration")) or _float((video or {}).get("duration")) or 0.0
    return MediaInfo(
        format_name=str(fmt.get("format_name", "")),
        duration=duration,
        size=int(fmt.get("size", 0) or 0),
        video=_video(video) if video else None,
        audio=_audio(audio) if audio else None,
        coding=_coding(first_video, fmt) if first_video else None,
    )


def _is_cover_art(stream: dict[str, Any]) -> bool:
    return bool(stream.get("disposition", {}).get("attached_pic"))


def _video(s: dict[str, Any]) -> VideoStream:
    rate = s.get("r_frame_rate") or "0/1"
    avg = s.get("avg_frame_rate") or "0/1"
    # r_frame_rate is the container's base rate; phones' VFR files report silly values (90000/1).
    if _fraction(rate) <= 0 or _fraction(rate) > 120:
        rate = avg
    return VideoStream(
        codec=str(s.get("codec_name", "unknown")),
        width=int(s.get("width", 0)),
        height=int(s.get("height", 0)),
        frame_rate=rate if _fraction(rate) > 0 else "30/1",
        pix_fmt=s.get("pix_fmt"),
        color_primaries=_tag(s.get("color_primaries")),
        color_transfer=_tag(s.get("color_transfer")),
        color_space=_tag(s.get("color_space")),
        color_range=_tag(s.get("color_range")),
        rotation=_rotation(s),
        duration=_float(s.get("duration")),
        sample_aspect_ratio=_tag(s.get("sample_aspect_ratio")) if s.get("sample_aspect_ratio") != "0:1" else None,
    )


def _audio(s: dict[str, Any]) -> AudioStream:
    return AudioStream(
        codec=str(s.get("codec_name", "unknown")),
        channels=int(s.get("channels", 0) or 0),
        sample_rate=int(s.get("sample_rate", 0) or 0),
    )


def _coding(s: dict[str, Any], fmt: dict[str, Any]) -> StreamFacts:
    container = str(fmt.get("format_name", ""))
    return StreamFacts(
        codec=str(s.get("codec_name", "")),
        profile=s.get("profile"),
        level=_int(s.get("level")),
        pix_fmt=s.get("pix_fmt"),
        bits=_int(s.get("bits_per_raw_sample")),
        field_order=s.get("field_order"),
        reorder_frames=_int(s.get("has_b_frames")) or 0,
        length_prefixed=str(s.get("is_avc")) == "true" and any(f in container.split(",") for f in _MOV_FORMATS),
        nal_length_size=_int(s.get("nal_length_size")) or 4,
        time_base=_fraction(s.get("time_base")),
        start_time=float(fmt.get("start_time") or 0.0),
        r_frame_rate=_fraction(s.get("r_frame_rate")),
        avg_frame_rate=_fraction(s.get("avg_frame_rate")),
        rotation=_rotation(s),
    )


def _rotation(s: dict[str, Any]) -> int:
    """Degrees a stream is turned on display, from its side data or its old `rotate` tag."""
    for side in s.get("side_data_list", []):
        if "rotation" in side:
            return int(side["rotation"]) % 360
    return int(s.get("tags", {}).get("rotate", 0)) % 360


def _tag(value: Any) -> str | None:
    return None if value in (None, "", "unknown", "unspecified", "reserved") else str(value)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _fraction(value: Any) -> Fraction:
    try:
        return Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return Fraction(0)
