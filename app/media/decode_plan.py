"""Where a decode starts, what it delivers and the ffmpeg arguments for it: frame grid, windows, geometry.

The picture stream is made from the same decoded frames as the grey one (`split` in the filtergraph), put on
the source's frame grid exactly as the grey stream's `-fps_mode cfr` does (`fps` with `start_time=0`), its
timestamps moved to source frame numbers (`setpts=PTS+n0`, exact integers), then sampled onto the picture
grid with `fps=rate:round=up`: grid time m / rate gets the last frame whose time is <= it, the frame on screen
then. Only the sampled frames are scaled and converted to BGR.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from app.domain.intervals import Interval, clamp, merge
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
    `audio_chunk_samples`: samples per PCM chunk handed to the audio consumers (the last may be shorter).
    `picture_width`: width of the BGR picture stream (never above the source's display width; height as `width`'s).
    `picture_rate`: pictures per second, on that rate's grid of source time (0.1 s, 0.2 s, ... at 10).
    """

    width: int = 320
    frame_rate: float | None = None
    scale_flags: str = "fast_bilinear"
    threads: int = 0
    audio_chunk_samples: int = 8000
    picture_width: int = 960
    picture_rate: float = 10.0


@dataclass(frozen=True)
class Window:
    """One ffmpeg run: seek to `seek`, skip `audio_skip` samples, deliver `frames` frames and `seconds` of audio.

    Pictures are at grid times (`first_picture` + i) / picture rate, `pictures` of them (None: to the end).
    """

    start: float  # source time of the first audio sample
    first_frame_time: float
    seek: float
    frames: int | None
    seconds: float | None
    audio_skip: int
    first_frame: int = 0  # source frame number of the first frame
    first_picture: int = 0
    pictures: int | None = None


def frame_size(video: VideoStream, width: int = 320) -> tuple[int, int]:
    """The (w, h) of analysis frames: `width` or the source's if smaller, height even and keeping the display aspect."""
    sar = video.sar
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
    ranges: Sequence[Interval] | None,
    duration: float,
    rate: Fraction,
    out_rate: Fraction,
    picture_rate: Fraction = Fraction(10),
) -> list[Window]:
    """One window for the whole source, or one per range: clamped, sorted, overlaps merged, snapped to frames.

    A range's pictures are the grid times in [its first frame's time, its end): before its first frame, the
    frame on screen would be one the range does not hold.
    """
    if ranges is None:
        # At a lower rate, cfr would pad the end with repeats of the last frame: count the frames instead.
        frames = None if out_rate == rate else math.ceil(duration * out_rate - _EPS)
        return [Window(0.0, 0.0, 0.0, frames, None, 0)]
    clamped = (clamp(r, 0.0, duration or math.inf) for r in ranges)  # a duration of 0 is unknown: no clamp
    windows = []
    # A range of no time decodes nothing; overlapping ranges are decoded once.
    for start, end in merge(r for r in clamped if r[1] > r[0]):
        n0 = math.ceil(start * rate - _EPS)
        first = float(n0 / rate)
        frames = max(0, math.ceil((end - first) * out_rate - _EPS))
        # Seek a quarter frame before the first wanted frame so float rounding can neither keep the frame
        # before it nor drop it; the audio between the seek and `start` is skipped sample-exactly.
        seek = max(0.0, min(start, float((n0 - Fraction(1, 4)) / rate)))
        skip = round((start - seek) * SAMPLE_RATE)
        first_picture = math.ceil(n0 * picture_rate / rate)
        pictures = max(0, math.ceil(end * picture_rate - _EPS) - first_picture)
        windows.append(Window(start, first, seek, frames, end - start, skip, n0, first_picture, pictures))
    return windows


@dataclass(frozen=True)
class Pipes:
    """Where each stream goes (None: not wanted), and the frame sizes (w, h) and rates of the two picture streams."""

    gray: Path | None = None
    picture: Path | None = None
    audio: Path | None = None
    channels: Path | None = None
    gray_size: tuple[int, int] = (0, 0)
    picture_size: tuple[int, int] = (0, 0)
    gray_rate: Fraction = Fraction(25)
    picture_rate: Fraction = Fraction(10)


def ffmpeg_args(source: Path, window: Window, opts: DecodeOptions, source_rate: Fraction, pipes: Pipes) -> list[str]:
    """ffmpeg's arguments for one window: grey frames, BGR pictures, 16 kHz mono and stereo s16le to `pipes`."""
    args = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y", "-hwaccel", "none"]
    args += ["-threads", str(opts.threads)]
    args += source_input(source, start=window.seek if window.seek > 0 else None)
    w, h = pipes.gray_size
    gray_chain = f"scale={w}:{h}:flags={opts.scale_flags},setsar=1,format=gray"
    if pipes.picture is not None:
        # One decoder feeds both: each frame is decoded once and referenced, not copied, by `split`.
        graph = f"[0:V:0]{_picture_chain(window, opts, source_rate, pipes)}[pic]"
        if pipes.gray is not None:
            graph = f"[0:V:0]split=2[g][p];[g]{gray_chain}[gray];[p]{graph.removeprefix('[0:V:0]')}"
        args += ["-filter_complex", graph]
    if pipes.gray is not None:
        args += ["-map", "[gray]"] if pipes.picture is not None else ["-map", "0:V:0", "-vf", gray_chain]
        args += ["-fps_mode", "cfr", "-r", str(pipes.gray_rate)]
        if window.frames is not None:
            args += ["-frames:v", str(window.frames)]
        args += ["-f", "rawvideo", "-pix_fmt", "gray", str(pipes.gray)]
    if pipes.picture is not None:
        # The graph already put the frames on their grid: the muxer must neither repeat nor drop any.
        args += ["-map", "[pic]", "-fps_mode", "passthrough"]
        if window.pictures is not None:
            args += ["-frames:v", str(window.pictures)]
        args += ["-f", "rawvideo", "-pix_fmt", "bgr24", str(pipes.picture)]
    if pipes.audio is not None:
        args += _audio_output(window, "", 1, pipes.audio)
    if pipes.channels is not None:
        # Channels 0 and 1 are front left and right in every layout that has them (and the first two otherwise).
        args += _audio_output(window, "pan=stereo|c0=c0|c1=c1,", 2, pipes.channels)
    return args


def _picture_chain(window: Window, opts: DecodeOptions, source_rate: Fraction, pipes: Pipes) -> str:
    w, h = pipes.picture_size
    # Timestamps become source frame numbers (exact integers), so the grid times below are exact too.
    grid = f"fps={source_rate}:start_time=0:round=near,setpts=PTS+{window.first_frame}"
    sample = f"fps={pipes.picture_rate}:round=up"
    return f"{grid},{sample},scale={w}:{h}:flags={opts.scale_flags},setsar=1,format=bgr24"


def _audio_output(window: Window, mix: str, channels: int, path: Path) -> list[str]:
    """One 16 kHz s16le output of the first audio stream; every output gets the same resampler and trim."""
    trim = f",atrim=start_sample={window.audio_skip}" if window.audio_skip else ""
    args = ["-map", "0:a:0", "-af", f"{mix}aresample={SAMPLE_RATE}{trim}", "-ac", str(channels)]
    args += ["-ar", str(SAMPLE_RATE)]
    if window.seconds is not None:
        args += ["-t", f"{window.seconds:.6f}"]
    return [*args, "-f", "s16le", str(path)]


def _ratio(text: str | None) -> Fraction | None:
    try:
        num, _, den = (text or "").partition(":")
        value = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None
