"""One decode of a source fanned out through named pipes: small grey frames and 16 kHz mono PCM to callables.

Frame times: the video output is made constant-rate at the probe's frame rate (`-fps_mode cfr`), so frame k of
a window starting at source frame n0 is on screen at (n0 + k) / rate exactly; a constant-rate source passes
through unchanged (no frame dropped or repeated, checked in the tests), and a variable-rate one gets frames
repeated or dropped onto that grid instead of times that drift. Range starts are snapped to the frame grid and
the frame count is set with `-frames:v`, so a window holds exactly the frames whose time is in [start, end).
Audio sample k of a window is at start + k / 16000.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import math
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.media.ffmpeg import FFmpegError, ProgressCallback, drain, kill_group
from app.media.ffmpeg import start as start_process
from app.media.fifo import Fifo, pump
from app.media.probe import MediaInfo, VideoStream

SAMPLE_RATE = 16000
FrameConsumer = Callable[[float, npt.NDArray[np.uint8]], None]
AudioConsumer = Callable[[float, npt.NDArray[np.int16]], None]
_EPS = 1e-6
_PROGRESS_SECONDS = 0.5
_STDERR_LINES = 400
_RUN_IDS = itertools.count()


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
class DecodeResult:
    """What was delivered: frame and sample counts, the frame size (w, h) and the frame rate used."""

    frames: int
    samples: int
    size: tuple[int, int]
    frame_rate: float


@dataclass(frozen=True)
class _Window:
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


async def decode(
    ffmpeg: str,
    source: Path,
    info: MediaInfo,
    work_dir: Path,
    *,
    on_frame: FrameConsumer | None = None,
    on_audio: AudioConsumer | None = None,
    ranges: Sequence[tuple[float, float]] | None = None,
    options: DecodeOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> DecodeResult:
    """Decode `source` once (or only `ranges`, in source time) and feed frames and PCM to the consumers.

    Frames are wanted when `on_frame` is given, audio when `on_audio` is given and the source has audio. Consumers
    run in reader threads (never on the event loop) and get source times. Cancelling the awaiting task, or a
    consumer raising, kills ffmpeg's process group, closes and unlinks the pipes, and re-raises; ffmpeg failing
    raises FFmpegError. `work_dir` (the attempt's temp dir) holds the FIFOs while ffmpeg opens them.
    """
    assert info.video is not None, "validate rejects sources without video"
    opts = options or DecodeOptions()
    rate = source_rate(info.video)
    out_rate = Fraction(opts.frame_rate).limit_denominator(1001) if opts.frame_rate else rate
    windows = _plan(ranges, info.video.duration or info.duration, rate, out_rate)
    total = sum(w.seconds if w.seconds is not None else info.duration for w in windows)
    run = _Decode(
        ffmpeg, source, work_dir, opts, frame_size(info.video, opts.width), out_rate,
        on_frame, on_audio if info.audio is not None else None, _Progress(total or 1.0, on_progress),
    )
    ticker = asyncio.create_task(run.progress.tick()) if on_progress else None
    try:
        for window in windows:
            await run.window(window)
            run.progress.finish_window(window.seconds if window.seconds is not None else info.duration)
    finally:
        if ticker:
            ticker.cancel()
    await run.progress.report(1.0)
    return DecodeResult(run.frames, run.samples, run.size, float(out_rate))


def _plan(
    ranges: Sequence[tuple[float, float]] | None, duration: float, rate: Fraction, out_rate: Fraction
) -> list[_Window]:
    if ranges is None:
        # At a lower rate, cfr would pad the end with repeats of the last frame: count the frames instead.
        frames = None if out_rate == rate else math.ceil(duration * out_rate - _EPS)
        return [_Window(0.0, 0.0, 0.0, frames, None, 0)]
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
        windows.append(_Window(start, first, seek, frames, end - start, skip))
    return windows


def _args(
    source: Path, window: _Window, opts: DecodeOptions, size: tuple[int, int], out_rate: Fraction,
    video: Fifo | None, audio: Fifo | None,
) -> list[str]:
    args = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y", "-hwaccel", "none"]
    args += ["-threads", str(opts.threads)]
    if window.seek > 0:
        args += ["-ss", f"{window.seek:.6f}"]
    args += ["-i", str(source)]
    if video is not None:
        w, h = size
        args += ["-map", "0:V:0", "-vf", f"scale={w}:{h}:flags={opts.scale_flags},setsar=1,format=gray"]
        args += ["-fps_mode", "cfr", "-r", str(out_rate)]
        if window.frames is not None:
            args += ["-frames:v", str(window.frames)]
        args += ["-f", "rawvideo", "-pix_fmt", "gray", str(video.path)]
    if audio is not None:
        trim = f",atrim=start_sample={window.audio_skip}" if window.audio_skip else ""
        args += ["-map", "0:a:0", "-af", f"aresample={SAMPLE_RATE}{trim}", "-ac", "1", "-ar", str(SAMPLE_RATE)]
        if window.seconds is not None:
            args += ["-t", f"{window.seconds:.6f}"]
        args += ["-f", "s16le", str(audio.path)]
    return args


@dataclass
class _Decode:
    """One decode call: what every window's ffmpeg run shares, and the counts so far."""

    ffmpeg: str
    source: Path
    work_dir: Path
    opts: DecodeOptions
    size: tuple[int, int]
    out_rate: Fraction
    on_frame: FrameConsumer | None
    on_audio: AudioConsumer | None
    progress: _Progress
    frames: int = 0
    samples: int = 0

    async def window(self, window: _Window) -> None:
        """Run ffmpeg for one window with a reader thread per pipe; kill it and clean up on any exception."""
        if self.on_frame is None and self.on_audio is None:
            return
        fifos: list[Fifo] = []
        try:
            video = self._fifo(fifos, "frames") if self.on_frame else None
            audio = self._fifo(fifos, "pcm") if self.on_audio else None
            argv = _args(self.source, window, self.opts, self.size, self.out_rate, video, audio)
            proc = await start_process(self.ffmpeg, argv, stdout=asyncio.subprocess.DEVNULL)
        except BaseException:
            for fifo in fifos:
                fifo.close()
            raise
        assert proc.stderr is not None
        stop, exited = threading.Event(), threading.Event()
        tail: deque[str] = deque(maxlen=_STDERR_LINES)
        # Own threads, not the loop's default executor: a slow consumer must not starve other work of it.
        pool = ThreadPoolExecutor(max_workers=len(fifos), thread_name_prefix="decode")
        loop = asyncio.get_running_loop()
        readers = []
        shape: tuple[int, ...]
        if video is not None:
            shape = (self.size[1], self.size[0])
            readers.append(loop.run_in_executor(pool, pump, video, shape, np.uint8, self._frames(window), stop, exited))
        if audio is not None:
            shape = (self.opts.audio_chunk_samples,)
            read_pcm = functools.partial(pump, partial_last=True)  # the last chunk is short
            readers.append(loop.run_in_executor(pool, read_pcm, audio, shape, np.int16, self._pcm(window), stop, exited))
        stderr = asyncio.create_task(drain(proc.stderr, tail))
        watcher = asyncio.create_task(_set_when_exited(proc, exited))
        try:
            await asyncio.gather(*readers)
            returncode = await proc.wait()
            await stderr
        except BaseException:
            stop.set()
            kill_group(proc.pid)
            await asyncio.shield(asyncio.gather(*readers, proc.wait(), stderr, return_exceptions=True))
            raise
        finally:
            watcher.cancel()
            pool.shutdown(wait=False)
            for fifo in fifos:
                fifo.unlink()
        if returncode != 0:
            raise FFmpegError("ffmpeg", returncode, "\n".join(tail))

    def _fifo(self, fifos: list[Fifo], name: str) -> Fifo:
        # Unique per run: windows in sequence, or two decodes sharing a work dir, never collide.
        fifo = Fifo(self.work_dir / f"decode-{name}-{next(_RUN_IDS)}.fifo")
        fifos.append(fifo)
        return fifo

    def _frames(self, window: _Window) -> Callable[[int, npt.NDArray[Any]], None]:
        consumer, progress = self.on_frame, self.progress
        assert consumer is not None
        step = 1 / float(self.out_rate)

        def deliver(index: int, frame: npt.NDArray[Any]) -> None:
            t = window.first_frame_time + index * step
            consumer(t, frame)
            self.frames += 1
            progress.seen(t + step - window.start)

        return deliver

    def _pcm(self, window: _Window) -> Callable[[int, npt.NDArray[Any]], None]:
        consumer, progress, chunk = self.on_audio, self.progress, self.opts.audio_chunk_samples
        assert consumer is not None
        track = self.on_frame is None  # with frames wanted, the video reader reports progress

        def deliver(index: int, pcm: npt.NDArray[Any]) -> None:
            offset = index * chunk
            consumer(window.start + offset / SAMPLE_RATE, pcm)
            self.samples += len(pcm)
            if track:
                progress.seen((offset + len(pcm)) / SAMPLE_RATE)

        return deliver


async def _set_when_exited(proc: asyncio.subprocess.Process, exited: threading.Event) -> None:
    # A reader still waiting for ffmpeg to open its pipe (ffmpeg failed first) must not wait forever.
    await proc.wait()
    exited.set()


class _Progress:
    """Decoded source time, written by reader threads, reported from the event loop twice a second."""

    def __init__(self, total: float, callback: ProgressCallback | None) -> None:
        self.total = total
        self.callback = callback
        self.done = 0.0  # seconds of finished windows
        self.current = 0.0  # seconds into the running window

    def seen(self, seconds: float) -> None:
        self.current = max(self.current, seconds)

    def finish_window(self, seconds: float) -> None:
        self.done += seconds
        self.current = 0.0

    async def tick(self) -> None:
        last = -1.0
        while True:
            await asyncio.sleep(_PROGRESS_SECONDS)
            fraction = min((self.done + self.current) / self.total, 1.0)
            if fraction != last:
                last = fraction
                await self.report(fraction)

    async def report(self, fraction: float) -> None:
        if self.callback is not None:
            result = self.callback(fraction)
            if isinstance(result, Awaitable):
                await result


def _ratio(text: str | None) -> Fraction | None:
    try:
        num, _, den = (text or "").partition(":")
        value = Fraction(int(num), int(den or 1))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None
