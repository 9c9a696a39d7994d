"""The two reference approaches: (a) a folder of ffmpeg scripts, (b) the floor, one ffmpeg process."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.media.ffmpeg import Binaries
from app.stages.render import BT709_TAGS
from bench.procs import Timer, run_ffmpeg
from bench.sampler import ProcessSampler
from bench.source import BenchSource

TARGET_LUFS = -16.0
X264 = ["-c:v", "libx264", "-crf", "18", "-preset", "fast", "-pix_fmt", "yuv420p"]
AAC = ["-c:a", "aac", "-b:a", "192k", "-ar", "48000"]
LOUDNORM = f"loudnorm=I={TARGET_LUFS}:TP=-1.5:LRA=11"


@dataclass
class Run:
    """One timed approach: how long it took, what it wrote, and the memory it used."""

    key: str
    label: str
    wall: float
    output: Path
    clip_frames: list[int]
    steps: dict[str, float]
    peak_python_mb: float | None
    peak_ffmpeg_mb: float
    load_before: float
    ffmpeg_cpu_s: float = 0.0  # CPU seconds of the ffmpeg children
    other_cpu_s: float = 0.0  # CPU seconds the rest of the machine used meanwhile
    extra: dict[str, object] = field(default_factory=dict)


def scripted(binaries: Binaries, source: BenchSource, work: Path) -> Run:
    """(a) Encode each clip, concat by copy, two-pass loudnorm, then a colour pass that re-encodes the video."""
    work.mkdir(parents=True, exist_ok=True)
    load, timer, started = os.getloadavg()[0], Timer(), time.perf_counter()
    with ProcessSampler() as sampler:
        with timer.step("encode clips"):
            clips = [_encode_clip(binaries, source, i, work) for i in range(len(source.clips))]
        with timer.step("concat (copy)"):
            joined = _concat_copy(binaries, clips, work)
        with timer.step("loudnorm pass 1 (measure)"):
            measured = _loudnorm_measure(binaries, joined)
        with timer.step("loudnorm pass 2 (apply)"):
            normalised = work / "normalised.mp4"
            apply = ["-i", str(joined), "-af", _loudnorm_apply(measured), "-c:v", "copy", *AAC, str(normalised)]
            run_ffmpeg(binaries, apply)
        with timer.step("colour pass (re-encode)"):
            out = work / "reel_a.mp4"
            colour = ["-vf", "zscale=t=709:m=709:p=709:r=tv,format=yuv420p", *X264, *BT709_TAGS, "-c:a", "copy"]
            run_ffmpeg(binaries, ["-i", str(normalised), *colour, "-movflags", "+faststart", str(out)])
    return Run(
        key="a",
        label="(a) ffmpeg scripts",
        wall=time.perf_counter() - started,
        output=out,
        clip_frames=[c.frames for c in source.clips],
        steps=timer.steps,
        peak_python_mb=None,
        peak_ffmpeg_mb=sampler.peak_tools_mb,
        load_before=load,
        ffmpeg_cpu_s=sampler.children_cpu_seconds,
        other_cpu_s=sampler.other_cpu_seconds,
    )


def floor(binaries: Binaries, source: BenchSource, work: Path) -> Run:
    """(b) One process: five seeked inputs, concat filter, one encode, fixed gains; nothing measured."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "reel_b.mp4"
    args: list[str] = []
    for c in source.clips:
        args += ["-ss", f"{c.start}", "-t", f"{c.duration}", "-i", str(source.path)]
    # The gains are the ones the source was generated with: what perfect measuring would find, for free.
    gains = ";".join(f"[{i}:a]volume={TARGET_LUFS - c.level_lufs:.2f}dB[a{i}]" for i, c in enumerate(source.clips))
    pairs = "".join(f"[{i}:v][a{i}]" for i in range(len(source.clips)))
    graph = f"{gains};{pairs}concat=n={len(source.clips)}:v=1:a=1[v][a]"
    args += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]", *X264, *BT709_TAGS, *AAC]
    args += ["-movflags", "+faststart", str(out)]
    load, started = os.getloadavg()[0], time.perf_counter()
    with ProcessSampler() as sampler:
        run_ffmpeg(binaries, args)
    wall = time.perf_counter() - started
    return Run(
        key="b",
        label="(b) floor: one ffmpeg",
        wall=wall,
        output=out,
        clip_frames=[c.frames for c in source.clips],
        steps={"one ffmpeg": round(wall, 3)},
        peak_python_mb=None,
        peak_ffmpeg_mb=sampler.peak_tools_mb,
        load_before=load,
        ffmpeg_cpu_s=sampler.children_cpu_seconds,
        other_cpu_s=sampler.other_cpu_seconds,
    )


def _encode_clip(binaries: Binaries, source: BenchSource, index: int, work: Path) -> Path:
    clip = source.clips[index]
    out = work / f"clip_{index}.mp4"
    seek = ["-ss", f"{clip.start}", "-t", f"{clip.duration}", "-i", str(source.path)]
    run_ffmpeg(binaries, [*seek, *X264, *AAC, str(out)])
    return out


def _concat_copy(binaries: Binaries, clips: list[Path], work: Path) -> Path:
    listing = work / "clips.txt"
    listing.write_text("".join(f"file '{c.name}'\n" for c in clips))
    out = work / "joined.mp4"
    run_ffmpeg(binaries, ["-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(out)])
    return out


def _loudnorm_measure(binaries: Binaries, path: Path) -> dict[str, str]:
    stderr = run_ffmpeg(binaries, ["-i", str(path), "-vn", "-af", f"{LOUDNORM}:print_format=json", "-f", "null", "-"])
    measured: dict[str, str] = json.loads(stderr[stderr.rindex("{") : stderr.rindex("}") + 1])
    return measured


def _loudnorm_apply(m: dict[str, str]) -> str:
    return (
        f"{LOUDNORM}:measured_I={m['input_i']}:measured_TP={m['input_tp']}:measured_LRA={m['input_lra']}:"
        f"measured_thresh={m['input_thresh']}:offset={m['target_offset']}:linear=true:print_format=summary"
    )
