"""One decode of a source fanned out through named pipes: grey frames, BGR pictures and 16 kHz PCM to callables.

Frame times: the video output is made constant-rate at the probe's frame rate (`-fps_mode cfr`), so frame k of
a window starting at source frame n0 is on screen at (n0 + k) / rate exactly; a constant-rate source passes
through unchanged (no frame dropped or repeated, checked in the tests), and a variable-rate one gets frames
repeated or dropped onto that grid instead of times that drift. Range starts are snapped to the frame grid and
the frame count is set with `-frames:v`, so a window holds exactly the frames whose time is in [start, end).
Pictures (`on_picture`) are at m / picture_rate exactly, each the frame on screen at that time (the grey frame
of that time when the grids meet); a range holds the grid times in [its first frame's time, its end).
Audio sample k of a window is at start + k / 16000.

Channels (`on_channels`): a fourth pipe, not a stereo audio pipe with the mono mix made here. The mono PCM the
VAD hears stays ffmpeg's own downmix (swresample's matrix, dither and rounding, centre and surround levels for
5.1) byte for byte, because its output arguments are unchanged; a mix in Python would only approximate it.
Both outputs take the same decoded audio through the same resampler, trim and duration, so their chunks hold
the same samples at the same times (checked in the tests). It costs one more pipe and reader thread at
64 kB/s: nothing next to the video pipes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.media.decode_plan import (
    SAMPLE_RATE,
    DecodeOptions,
    Pipes,
    Window,
    ffmpeg_args,
    frame_size,
    plan_windows,
    source_rate,
)
from app.media.decode_progress import Progress
from app.media.ffmpeg import FFmpegError, ProgressCallback, drain, kill_group
from app.media.ffmpeg import start as start_process
from app.media.fifo import Fifo, pump
from app.media.probe import MediaInfo

__all__ = [
    "SAMPLE_RATE",
    "AudioConsumer",
    "DecodeOptions",
    "DecodeResult",
    "FrameConsumer",
    "PictureConsumer",
    "decode",
    "frame_size",
]

FrameConsumer = Callable[[float, npt.NDArray[np.uint8]], None]  # (h, w) grey
PictureConsumer = Callable[[float, npt.NDArray[np.uint8]], None]  # (h, w, 3) BGR
AudioConsumer = Callable[[float, npt.NDArray[np.int16]], None]  # (n,) mono, or (n, 2) left and right
_STREAMS = ("frame", "picture", "audio", "channels")
_STDERR_LINES = 400
_RUN_IDS = itertools.count()


@dataclass(frozen=True)
class Consumers:
    """The callables a decode feeds; None is a stream not wanted."""

    frame: FrameConsumer | None = None
    picture: PictureConsumer | None = None
    audio: AudioConsumer | None = None
    channels: AudioConsumer | None = None


@dataclass(frozen=True)
class DecodeResult:
    """What was delivered: frame, picture and sample counts, the two frame sizes (w, h) and the frame rate used."""

    frames: int
    samples: int
    size: tuple[int, int]
    frame_rate: float
    pictures: int = 0
    picture_size: tuple[int, int] = (0, 0)


async def decode(
    ffmpeg: str,
    source: Path,
    info: MediaInfo,
    work_dir: Path,
    *,
    on_frame: FrameConsumer | None = None,
    on_audio: AudioConsumer | None = None,
    on_picture: PictureConsumer | None = None,
    on_channels: AudioConsumer | None = None,
    ranges: Sequence[tuple[float, float]] | None = None,
    options: DecodeOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> DecodeResult:
    """Decode `source` once (or only `ranges`, in source time) and feed frames, pictures and PCM to the consumers.

    Grey frames go to `on_frame`, BGR pictures to `on_picture`, mono PCM to `on_audio` when the source has audio,
    and int16 (n, 2) left/right PCM to `on_channels` when it has two channels or more (front left and right).
    Consumers run in reader threads (one per pipe, never on the event loop) and get source times. Cancelling the
    awaiting task, or a consumer raising, kills ffmpeg's process group, closes and unlinks the pipes, and
    re-raises; ffmpeg failing raises FFmpegError. `work_dir` (the attempt's temp dir) holds the FIFOs while ffmpeg
    opens them.
    """
    assert info.video is not None, "validate rejects sources without video"
    opts = options or DecodeOptions()
    rate = source_rate(info.video)
    out_rate = Fraction(opts.frame_rate).limit_denominator(1001) if opts.frame_rate else rate
    picture_rate = Fraction(opts.picture_rate).limit_denominator(1001)
    windows = plan_windows(ranges, info.video.duration or info.duration, rate, out_rate, picture_rate)
    total = sum(w.seconds if w.seconds is not None else info.duration for w in windows)
    audio = info.audio is not None
    stereo = audio and info.audio is not None and info.audio.channels >= 2
    consumers = Consumers(on_frame, on_picture, on_audio if audio else None, on_channels if stereo else None)
    shape = Pipes(
        gray_size=frame_size(info.video, opts.width),
        picture_size=frame_size(info.video, opts.picture_width),
        gray_rate=out_rate,
        picture_rate=picture_rate,
    )
    run = _Decode(ffmpeg, source, work_dir, opts, rate, shape, consumers, Progress(total or 1.0, on_progress))
    ticker = asyncio.create_task(run.progress.tick()) if on_progress else None
    try:
        for window in windows:
            await run.window(window)
            run.progress.finish_window(window.seconds if window.seconds is not None else info.duration)
    finally:
        if ticker:
            ticker.cancel()
    await run.progress.report(1.0)
    return DecodeResult(
        run.counts["frame"],
        run.counts["audio"],
        shape.gray_size,
        float(out_rate),
        run.counts["picture"],
        shape.picture_size,
    )


@dataclass
class _Decode:
    """One decode call: what every window's ffmpeg run shares, and the counts so far."""

    ffmpeg: str
    source: Path
    work_dir: Path
    opts: DecodeOptions
    rate: Fraction
    shape: Pipes
    consumers: Consumers
    progress: Progress
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_STREAMS, 0))

    async def window(self, window: Window) -> None:
        """Run ffmpeg for one window with a reader thread per pipe; kill it and clean up on any exception."""
        wanted = {name: fn for name, fn in vars(self.consumers).items() if fn is not None}
        if not wanted:
            return
        fifos: dict[str, Fifo] = {}
        try:
            for name in wanted:
                # Unique per run: windows in sequence, or two decodes sharing a work dir, never collide.
                fifos[name] = Fifo(self.work_dir / f"decode-{name}-{next(_RUN_IDS)}.fifo")
            pipes = _with_paths(self.shape, {name: f.path for name, f in fifos.items()})
            argv = ffmpeg_args(self.source, window, self.opts, self.rate, pipes)
            proc = await start_process(self.ffmpeg, argv, stdout=asyncio.subprocess.DEVNULL)
        except BaseException:
            for fifo in fifos.values():
                fifo.close()
            raise
        assert proc.stderr is not None
        stop, exited = threading.Event(), threading.Event()
        tail: deque[str] = deque(maxlen=_STDERR_LINES)
        # Own threads, one per pipe, not the loop's default executor: every pipe is drained at once, so a full
        # pipe only ever waits for its own consumer (ffmpeg writes them all from one thread: one blocked pipe
        # stalls the others, which then wait empty, never full), and a slow consumer starves no other work.
        pool = ThreadPoolExecutor(max_workers=len(fifos), thread_name_prefix="decode")
        loop = asyncio.get_running_loop()
        readers = [loop.run_in_executor(pool, self._reader(name, fifos[name], window), stop, exited) for name in fifos]
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
            for fifo in fifos.values():
                fifo.unlink()
        if returncode != 0:
            raise FFmpegError("ffmpeg", returncode, "\n".join(tail))

    def _reader(self, name: str, fifo: Fifo, window: Window) -> Callable[[threading.Event, threading.Event], int]:
        """The thread body that reads one pipe into its consumer."""
        chunk = self.opts.audio_chunk_samples
        (gw, gh), (pw, ph) = self.shape.gray_size, self.shape.picture_size
        shapes: dict[str, tuple[int, ...]] = {
            "frame": (gh, gw),
            "picture": (ph, pw, 3),
            "audio": (chunk,),
            "channels": (chunk, 2),
        }
        dtype = np.uint8 if name in ("frame", "picture") else np.int16
        deliver = {"frame": self._frames, "picture": self._pictures, "audio": self._pcm, "channels": self._pcm}
        # The last chunk of audio is short: deliver it too.
        return functools.partial(
            pump, fifo, shapes[name], dtype, deliver[name](name, window), partial_last=dtype is np.int16
        )

    def _tracks_progress(self, name: str) -> bool:
        """The first stream wanted of grey, picture, audio reports progress (the others would only repeat it)."""
        order = [n for n in ("frame", "picture", "audio") if getattr(self.consumers, n) is not None]
        return bool(order) and order[0] == name

    def _frames(self, name: str, window: Window) -> Callable[[int, npt.NDArray[Any]], None]:
        consumer, progress = self.consumers.frame, self.progress
        assert consumer is not None
        step = 1 / float(self.shape.gray_rate)

        def deliver(index: int, frame: npt.NDArray[Any]) -> None:
            t = window.first_frame_time + index * step
            consumer(t, frame)
            self.counts[name] += 1
            progress.seen(t + step - window.start)

        return deliver

    def _pictures(self, name: str, window: Window) -> Callable[[int, npt.NDArray[Any]], None]:
        consumer, progress, rate = self.consumers.picture, self.progress, self.shape.picture_rate
        assert consumer is not None
        track = self._tracks_progress(name)

        def deliver(index: int, picture: npt.NDArray[Any]) -> None:
            t = float((window.first_picture + index) / rate)
            consumer(t, picture)
            self.counts[name] += 1
            if track:
                progress.seen(t + float(1 / rate) - window.start)

        return deliver

    def _pcm(self, name: str, window: Window) -> Callable[[int, npt.NDArray[Any]], None]:
        consumer = self.consumers.audio if name == "audio" else self.consumers.channels
        progress, chunk = self.progress, self.opts.audio_chunk_samples
        assert consumer is not None
        track = self._tracks_progress(name)

        def deliver(index: int, pcm: npt.NDArray[Any]) -> None:
            offset = index * chunk
            consumer(window.start + offset / SAMPLE_RATE, pcm)
            self.counts[name] += len(pcm)
            if track:
                progress.seen((offset + len(pcm)) / SAMPLE_RATE)

        return deliver


def _with_paths(shape: Pipes, paths: dict[str, Path]) -> Pipes:
    return dataclasses.replace(
        shape,
        gray=paths.get("frame"),
        picture=paths.get("picture"),
        audio=paths.get("audio"),
        channels=paths.get("channels"),
    )


async def _set_when_exited(proc: asyncio.subprocess.Process, exited: threading.Event) -> None:
    # A reader still waiting for ffmpeg to open its pipe (ffmpeg failed first) must not wait forever.
    await proc.wait()
    exited.set()
