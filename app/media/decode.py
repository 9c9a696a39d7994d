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

from app.media.decode_plan import SAMPLE_RATE, DecodeOptions, Window, ffmpeg_args, frame_size, plan_windows, source_rate
from app.media.ffmpeg import FFmpegError, ProgressCallback, drain, kill_group
from app.media.ffmpeg import start as start_process
from app.media.fifo import Fifo, pump
from app.media.probe import MediaInfo

__all__ = ["SAMPLE_RATE", "AudioConsumer", "DecodeOptions", "DecodeResult", "FrameConsumer", "decode", "frame_size"]

FrameConsumer = Callable[[float, npt.NDArray[np.uint8]], None]
AudioConsumer = Callable[[float, npt.NDArray[np.int16]], None]
_PROGRESS_SECONDS = 0.5
_STDERR_LINES = 400
_RUN_IDS = itertools.count()


@dataclass(frozen=True)
class DecodeResult:
    """What was delivered: frame and sample counts, the frame size (w, h) and the frame rate used."""

    frames: int
    samples: int
    size: tuple[int, int]
    frame_rate: float


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
    windows = plan_windows(ranges, info.video.duration or info.duration, rate, out_rate)
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

    async def window(self, window: Window) -> None:
        """Run ffmpeg for one window with a reader thread per pipe; kill it and clean up on any exception."""
        if self.on_frame is None and self.on_audio is None:
            return
        fifos: list[Fifo] = []
        try:
            video = self._fifo(fifos, "frames") if self.on_frame else None
            audio = self._fifo(fifos, "pcm") if self.on_audio else None
            paths = (video.path if video else None, audio.path if audio else None)
            argv = ffmpeg_args(self.source, window, self.opts, self.size, self.out_rate, *paths)
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
        if video is not None:
            read_frames = functools.partial(pump, video, (self.size[1], self.size[0]), np.uint8, self._frames(window))
            readers.append(loop.run_in_executor(pool, read_frames, stop, exited))
        if audio is not None:
            chunk = (self.opts.audio_chunk_samples,)
            # The last chunk is short: deliver it too.
            read_pcm = functools.partial(pump, audio, chunk, np.int16, self._pcm(window), partial_last=True)
            readers.append(loop.run_in_executor(pool, read_pcm, stop, exited))
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

    def _frames(self, window: Window) -> Callable[[int, npt.NDArray[Any]], None]:
        consumer, progress = self.on_frame, self.progress
        assert consumer is not None
        step = 1 / float(self.out_rate)

        def deliver(index: int, frame: npt.NDArray[Any]) -> None:
            t = window.first_frame_time + index * step
            consumer(t, frame)
            self.frames += 1
            progress.seen(t + step - window.start)

        return deliver

    def _pcm(self, window: Window) -> Callable[[int, npt.NDArray[Any]], None]:
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

