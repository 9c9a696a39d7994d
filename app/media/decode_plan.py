"""Where a decode starts, what it delivers and the ffmpeg arguments for it: frame grid, windows, geometry."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from app.media.inputs import source_input
from app.media.probe import VideoStream

SAMPLE_RATE = 16000
_EPS = 1e-6


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode.

    `width`: analysis width in pixels (never above the source's; height keeps the display aspect, even).
    `frame_rate`: frames per second to deliver; None is every frame at the source's rate. Every frame is
    still decoded (H.264 needs it): a lower rate saves only scaling and pipe traffic.
    `scale_flags`: swscale algorithm (see bench/README.md for what each costs).
    `threads`: decoder threads, 0 lets ffmpeg choose.
    `audio_chunk_samples`: samples per PCM chunk handed to the audio consumer (the last may be shorter).
    """

    width: int = 320
    frame_rate: float | None = None
    scale_flags: str = "fast_bilinear"
    threads: int = 0
    audio_chunk_samples: int = 8000


@dataclass(frozen=True)
class Window:
    """One ffmpeg run: seek to `seek`, skip `audio_skip` samples, deliver `frames` frames and `seconds` of audio."""

    start: float  # source time of the first audio sample
    first_frame_time: float
    seek: float
    frames: int | None
    seconds: float | None
    audio_skip: int


def frame_size(video: VideoStream, width: int = 320) -> tuple[int, int]:
    """The (w, h) of analysis frames: `width` or the source's if smaller, height even and keeping the display aspect."""
    sar = _ratio(video.sample_aspect_ratio) or Fraction(1)
    square_w, square_h = Fraction(video.width) * sar, Fraction(video.height)
    if video.rotation % 180:
        square_w, square_h = square_h, square_w
    w = max(2, min(width, round(square_w)) // 2 * 2)
    h = max(2, round(w * square_h / square_w / 2) * 2)
    return w, h


def source_rate(video: VideoStream) -> Fraction:
    """The probe's frame rate as a fraction (30000/1001, 25, ...)."""
    return _ratio(video.frame_rate.replace("/", ":")) or Fraction(30)


def plan_windows(
    ranges: Sequence[tuple[float, float]] | None, duration: float, rate: Fraction, out_rate: Fraction
) -> list[Window]:
    """One window for the whole source, or one per range: clamped, sorted, overlaps merged, snapped to frames."""
    if ranges is None:
        # At a lower rate, cfr would pad the end with repeats of the last frame: count the frames instead.
        frames = None if out_rate == rate else math.ceil(duration * out_rate - _EPS)
        return [Window(0.0, 0.0, 0.0, frames, None, 0)]
    merged: list[list[float]] = []
    for start, end in sorted((max(0.0, s), min(e, duration) if duration else e) for s, e in ranges):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)  # overlapping ranges are decoded once
        else:
            merged.append([start, end])
    windows = []
    for start, end in merged:
        n0 = math.ceil(start * rate - _EPS)
        first = float(n0 / rate)
        frames = max(0, math.ceil((end - first) * out_rate - _EPS))
        # Seek a quarter frame before the first wanted frame so float rounding can neither keep the frame
        # before it nor drop it; the audio between the seek and `start` is skipped sample-exactly.
        seek = max(0.0, min(start, float((n0 - Fraction(1, 4)) / rate)))
        skip = round((start - seek) * SAMPLE_RATE)
        windows.append(Window(start, first, seek, frames, end - start, skip))
    return windows


def ffmpeg_args(
    source: Path, window: Window, opts: DecodeOptions, size: tuple[int, int], out_rate: Fraction,
    video: Path | None, audio: Path | None,
) -> list[str]:
    """ffmpeg's arguments for one window: grey frames to `video`, 16 kHz mono s16le to `audio` (either may be None)."""
    args = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y", "-hwaccel", "none"]
    args += ["-threads", str(opts.threads)]
    args += source_input(source, start=window.seek if window.seek > 0 else None)
    if video is not None:
        w, h = size
        args += ["-map", "0:V:0", "-vf", f"scale={w}:{h}:flags={opts.scale_flags},setsar=1,format=gray"]
        args += ["-fps_mode", "cfr", "-r", str(out_rate)]
        if window.frames is not None:
            args += ["-frames:v", str(window.frames)]
        args += ["-f", "rawvideo", "-pix_fmt", "gray", str(video)]
    if audio is not None:
        trim = f",atrim=start_sample={window.audio_skip}" if window.audio_skip else ""
        args += ["-map", "0:a:0", "-af", f"aresample={SAMPLE_RATE}{trim}", "-ac", "1", "-ar", str(SAMPLE_RATE)]
        if window.seconds is not None:
            args += ["-t", f"{window.seconds:.6f}"]
        args += ["-f", "s16le", str(audio)]
    return args


def _ratio(text: str | None) -> Fraction | None:
    try:
        num, _, den = (text or "").partition(":")
        value = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None
