"""`python -m bench.analysis`: one decode through FIFOs against a bare ffmpeg decode of the same source.

(1) bare: ffmpeg decodes and scales every frame to the analysis size into a null sink (the reference);
(1+a) the same with the audio resampled to 16 kHz mono too; (1+a+p) and a 640 px BGR picture at 10 fps split from
the same decoded frames; (2) ours: `app.media.decode` through named pipes into consumers (trivial ones by default:
a sum of bytes), (2+p) with the picture stream too. Then swscale and thread variants of (1) on a 60 s slice, and
with `--long` peak RSS over a long source (picture stream on). Wire real analysers in with a `ConsumerFactory`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil

from app.analysis.features import SourceAnalyser
from app.analysis.picker import pick_highlights
from app.config import Settings
from app.media.decode import DecodeOptions, decode, frame_size
from app.media.ffmpeg import Binaries, find_binaries
from app.media.probe import MediaInfo, probe
from app.stages.choose import FACE_INTERVAL
from bench.long_source import ensure_long_source
from bench.machine import load, machine_info
from bench.procs import run_ffmpeg
from bench.report import table
from bench.sampler import ProcessSampler
from bench.source import CACHE_DIR, ensure_source, warm_page_cache

SLICE_SECONDS = 60.0
VARIANTS = (("fast_bilinear", 0), ("area", 0), ("bicubic", 0), ("fast_bilinear", 1))


@dataclass
class Consumers:
    """What a decode feeds: a frame callable, an audio callable, and a summary once it is over."""

    on_frame: Callable[[float, npt.NDArray[np.uint8]], None]
    on_audio: Callable[[float, npt.NDArray[np.int16]], None]
    summary: Callable[[], dict[str, Any]]
    on_picture: Callable[[float, npt.NDArray[np.uint8]], None] | None = None


# The analysers plug in here: given the probe and the frame size, return the consumers to time.
ConsumerFactory = Callable[[MediaInfo, tuple[int, int]], Consumers]


def trivial_consumers(info: MediaInfo, size: tuple[int, int]) -> Consumers:
    """Consumers that touch every byte (a sum), so the cost measured is the pipes' and not an analyser's."""
    totals = {"frames": 0, "frame_sum": 0, "samples": 0, "pcm_sum": 0}

    def on_frame(t: float, frame: npt.NDArray[np.uint8]) -> None:
        totals["frames"] += 1
        totals["frame_sum"] += int(frame.sum(dtype=np.uint64))

    def on_audio(t: float, chunk: npt.NDArray[np.int16]) -> None:
        totals["samples"] += len(chunk)
        totals["pcm_sum"] += int(np.abs(chunk, dtype=np.int32).sum())

    return Consumers(on_frame, on_audio, lambda: dict(totals))


def with_pictures(factory: ConsumerFactory) -> ConsumerFactory:
    """The factory's consumers plus a picture consumer that sums every byte of every BGR picture."""

    def make(info: MediaInfo, size: tuple[int, int]) -> Consumers:
        consumers = factory(info, size)
        totals = {"pictures": 0, "picture_sum": 0}

        def on_picture(t: float, picture: npt.NDArray[np.uint8]) -> None:
            totals["pictures"] += 1
            totals["picture_sum"] += int(picture.sum(dtype=np.uint64))

        return Consumers(consumers.on_frame, consumers.on_audio, lambda: consumers.summary() | totals, on_picture)

    return make


def analyser_consumers(info: MediaInfo, size: tuple[int, int]) -> Consumers:
    """Every analyser of the analyze stage as the stage feeds them when the crop follows faces: shots, motion,
    bars on the grey frames; faces (CenterFace, once a second) and mouths on the 960 px pictures; speech and level."""
    analyser = SourceAnalyser(face_interval=FACE_INTERVAL)

    def on_audio(t: float, chunk: npt.NDArray[np.int16]) -> None:
        analyser.add_audio(chunk, t)

    def summary() -> dict[str, Any]:
        features = analyser.result()
        picks = pick_highlights(features)
        return {
            "cuts": len(features.cuts),
            "pauses": len(features.pauses),
            "face_tracks": len(features.face_tracks),
            "picks": [(round(p.start, 1), round(p.end, 1), list(p.reasons)) for p in picks],
            "analyser_cpu_s": {k: round(v, 2) for k, v in analyser.seconds.items()},
        }

    return Consumers(analyser.add_frame, on_audio, summary, analyser.add_picture)


@dataclass
class Result:
    """One timed approach."""

    label: str
    wall: float
    source_seconds: float
    python_mb: float
    ffmpeg_cpu_s: float
    python_cpu_s: float
    others_pct: float
    extra: dict[str, Any] = field(default_factory=dict)


def bare(binaries: Binaries, path: Path, size: tuple[int, int], *, audio: bool, flags: str = "fast_bilinear",
         threads: int = 0, seconds: float | None = None, label: str = "",
         picture: tuple[int, int] | None = None, picture_rate: float = 10.0) -> Result:
    """ffmpeg alone: decode, scale to `size` in grey, discard (and the 16 kHz mono audio when `audio`).

    With `picture` (w, h), a BGR picture at `picture_rate` is split from the same decoded frames, as `decode` does.
    """
    limit = ["-t", f"{seconds}"] if seconds else []
    args = ["-hwaccel", "none", "-threads", str(threads), *limit, "-i", str(path)]
    gray = f"scale={size[0]}:{size[1]}:flags={flags},format=gray"
    if picture is None:
        args += ["-map", "0:V:0", "-vf", gray, "-f", "null", "-"]
    else:
        bgr = f"fps={picture_rate}:round=up,scale={picture[0]}:{picture[1]}:flags={flags},format=bgr24"
        args += ["-filter_complex", f"[0:V:0]split=2[g][p];[g]{gray}[gray];[p]{bgr}[pic]"]
        args += ["-map", "[gray]", "-f", "null", "-", "-map", "[pic]", "-f", "null", "-"]
    if audio:
        args += ["-map", "0:a:0", "-ac", "1", "-ar", "16000", "-f", "null", "-"]
    return _timed(label, seconds or 0.0, lambda: run_ffmpeg(binaries, args))


def ours(binaries: Binaries, path: Path, info: MediaInfo, work: Path, factory: ConsumerFactory,
         options: DecodeOptions, *, label: str, on_rss: list[tuple[float, float]] | None = None) -> Result:
    """`app.media.decode` with the factory's consumers; time spent inside them is reported apart."""
    assert info.video is not None
    consumers = factory(info, frame_size(info.video, options.width))
    inside = [0.0, 0.0, 0.0]
    lock = threading.Lock()

    def timed(index: int, fn: Callable[[float, Any], None]) -> Callable[[float, Any], None]:
        def call(t: float, data: Any) -> None:
            started = time.thread_time()
            fn(t, data)
            with lock:
                inside[index] += time.thread_time() - started

        return call

    me = psutil.Process()

    def progress(fraction: float) -> None:
        if on_rss is not None:
            on_rss.append((fraction, me.memory_info().rss / 2**20))

    on_picture = consumers.on_picture

    async def go() -> None:
        await decode(binaries.ffmpeg, path, info, work, on_frame=timed(0, consumers.on_frame),
                     on_audio=timed(1, consumers.on_audio), on_picture=on_picture and timed(2, on_picture),
                     options=options, on_progress=progress)

    result = _timed(label, info.duration, lambda: asyncio.run(go()))
    result.extra = {**consumers.summary(), "frame_consumer_cpu_s": round(inside[0], 2),
                    "audio_consumer_cpu_s": round(inside[1], 2)}
    if on_picture is not None:
        result.extra["picture_consumer_cpu_s"] = round(inside[2], 2)
    return result


def _timed(label: str, source_seconds: float, work: Callable[[], object]) -> Result:
    print(f"running {label} (load {load()}) ...", flush=True)
    with ProcessSampler() as sampler:
        started = time.perf_counter()
        work()
        wall = time.perf_counter() - started
    cores = psutil.cpu_count() or 1
    return Result(label, wall, source_seconds, sampler.peak_main_mb, sampler.children_cpu_seconds,
                  sampler.cpu_seconds, 100 * sampler.other_cpu_seconds / (wall * cores))


def results_table(rows: list[Result], reference: Result) -> str:
    """Wall time, ratios to the reference and to the source, memory and CPU of each approach."""
    headers = ["approach", "wall s", "/(1)", "/source", "py RSS MB", "ffmpeg CPU s", "py CPU s", "others"]
    return table(headers, [
        [r.label, f"{r.wall:.1f}", f"{r.wall / reference.wall:.2f}", f"{r.wall / r.source_seconds:.3f}",
         f"{r.python_mb:.0f}", f"{r.ffmpeg_cpu_s:.1f}", f"{r.python_cpu_s:.1f}", f"{r.others_pct:.0f}%"]
        for r in rows
    ])


def main(argv: list[str] | None = None) -> int:
    """Time the decodes on the bench source; optionally the long-source memory check."""
    args = _parse(argv)
    binaries = find_binaries(Settings().ffmpeg_path)
    print(" | ".join(f"{k}: {v}" for k, v in machine_info(binaries).items()), flush=True)
    source = ensure_source(binaries, args.minutes)
    warm_page_cache(source.path)
    info = asyncio.run(probe(binaries.ffprobe, source.path))
    assert info.video is not None
    options = DecodeOptions(width=args.width)
    size = frame_size(info.video, args.width)
    print(f"source: {source.path.name}, {info.duration:g} s, analysis frames {size[0]}x{size[1]}", flush=True)
    work = CACHE_DIR / "analysis-run"
    work.mkdir(parents=True, exist_ok=True)
    picture = frame_size(info.video, options.picture_width)
    main_rows = [
        bare(binaries, source.path, size, audio=False, label="(1) bare decode + scale, video only"),
        bare(binaries, source.path, size, audio=True, label="(1+a) bare decode + scale, and 16 kHz audio"),
        bare(binaries, source.path, size, audio=True, picture=picture, picture_rate=options.picture_rate,
             label=f"(1+a+p) and a {picture[0]}x{picture[1]} BGR picture"),
        ours(binaries, source.path, info, work, trivial_consumers, options, label="(2) ours: FIFOs, sum of bytes"),
        ours(binaries, source.path, info, work, with_pictures(trivial_consumers), options,
             label="(2+p) ours, and the picture stream"),
    ]
    if args.analysers:
        main_rows.append(ours(binaries, source.path, info, work, analyser_consumers, options,
                              label="(3) ours: every analyser, faces included"))
    for row in main_rows:
        row.source_seconds = info.duration
    print("\n" + results_table(main_rows, main_rows[0]))
    for row in main_rows[3:]:
        print(f"{row.label.split(' ')[0]} consumers: {row.extra}")
    if args.variants:
        slices = [bare(binaries, source.path, size, audio=False, flags=f, threads=t, seconds=SLICE_SECONDS,
                       label=f"bare, first {SLICE_SECONDS:g} s, {f}, threads {t or 'auto'}") for f, t in VARIANTS]
        print("\n" + results_table(slices, slices[0]))
    if args.ranges:
        ranges_check(binaries, source.path, info, size, work, options,
                     [(c.start - 1.5, c.start + c.duration + 1.5) for c in source.clips])
    if args.long:
        long_check(binaries, args.hours, work, options)
    return 0


def ranges_check(binaries: Binaries, path: Path, info: MediaInfo, size: tuple[int, int], work: Path,
                 options: DecodeOptions, ranges: list[tuple[float, float]]) -> None:
    """Highlights +/- 1.5 s: one ffmpeg per range in sequence against one ffmpeg with an input per range."""
    scale = f"scale={size[0]}:{size[1]}:flags={options.scale_flags},format=gray"
    inputs = [a for s, e in ranges for a in ("-ss", f"{s}", "-t", f"{e - s}", "-i", str(path))]
    joined = "".join(f"[{i}:V:0]" for i in range(len(ranges)))
    one = ["-hwaccel", "none", *inputs, "-filter_complex", f"{joined}concat=n={len(ranges)}:v=1:a=0,{scale}"]
    seconds = sum(e - s for s, e in ranges)
    rows = [
        _timed("bare, one ffmpeg per range", seconds, lambda: [
            run_ffmpeg(binaries, ["-hwaccel", "none", "-ss", f"{s}", "-t", f"{e - s}", "-i", str(path),
                                  "-map", "0:V:0", "-vf", scale, "-f", "null", "-"]) for s, e in ranges]),
        _timed("bare, one ffmpeg, an input per range + concat", seconds,
               lambda: run_ffmpeg(binaries, [*one, "-f", "null", "-"])),
    ]

    async def go() -> None:
        await decode(binaries.ffmpeg, path, info, work, on_frame=lambda t, f: None, on_audio=lambda t, c: None,
                     ranges=ranges, options=options)

    rows.append(_timed("ours, one ffmpeg per range, frames + audio", seconds, lambda: asyncio.run(go())))
    print(f"\n{len(ranges)} ranges, {seconds:g} s in all:\n" + results_table(rows, rows[0]))


def long_check(binaries: Binaries, hours: float, work: Path, options: DecodeOptions) -> None:
    """Peak RSS of this process while a long source streams through: it must not grow with the source."""
    path = ensure_long_source(binaries, hours)
    info = asyncio.run(probe(binaries.ffprobe, path))
    samples: list[tuple[float, float]] = []
    # Every analyser, as the analyze stage runs them, and the picture stream: what must stay flat is the whole
    # analysis, not the pipes alone.
    result = ours(binaries, path, info, work, analyser_consumers, options,
                  label=f"(3+p) ours, every analyser and pictures, {hours:g} h source", on_rss=samples)
    print("\n" + results_table([result], result))
    marks = [next((mb for f, mb in samples if f >= q), samples[-1][1]) for q in (0.1, 0.25, 0.5, 0.75, 1.0)]
    print("Python RSS MB at 10/25/50/75/100 % of the source: " + " / ".join(f"{m:.0f}" for m in marks)
          + f"; peak {result.python_mb:.0f}; {result.extra}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.analysis", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="bench source length (default 10)")
    parser.add_argument("--width", type=int, default=320, help="analysis width (default 320)")
    parser.add_argument("--variants", action=argparse.BooleanOptionalAction, default=True,
                        help=f"swscale and thread variants of (1) on the first {SLICE_SECONDS:g} s")
    parser.add_argument("--ranges", action=argparse.BooleanOptionalAction, default=True,
                        help="range-limited decodes: one ffmpeg per range against one for all")
    parser.add_argument("--analysers", action=argparse.BooleanOptionalAction, default=True,
                        help="row (3): every analyser of the analyze stage on the decode")
    parser.add_argument("--long", action="store_true", help="also the long-source memory check")
    parser.add_argument("--hours", type=float, default=4.0, help="long source length (default 4)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
