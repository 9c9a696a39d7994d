"""Output checks with meters that are not ours: pyloudnorm, ffprobe tags, and SSIM/PSNR/VMAF against the source."""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from app.media.ffmpeg import Binaries
from bench.procs import run_ffmpeg, run_ffprobe
from bench.source import FPS, BenchSource

SAMPLE_RATE = 48000
LOUDNESS_EDGE_SECONDS = 1.0  # each clip's loudness skips this much at both ends, where fades live
PICTURE_EDGE_FRAMES = round(0.6 * FPS)  # frames skipped at both ends of each clip for SSIM/PSNR/VMAF
VMAF_SUBSAMPLE = 5
VMAF_WINDOW_SECONDS = 10.0
MAX_OFFSET_FRAMES = 3

_SSIM = re.compile(r"SSIM Y:.* All:(?P<v>[\d.]+)")
_PSNR = re.compile(r"PSNR y:.* average:(?P<v>[\d.]+|inf)")
_VMAF = re.compile(r"VMAF score: (?P<v>[\d.]+)")


@dataclass(frozen=True)
class Quality:
    """What one output measured."""

    integrated_lufs: float
    clip_lufs: list[float]
    spread_lu: float
    tags: dict[str, str | None]
    bt709: bool
    frames: int
    expected_frames: int
    ssim: float | None
    psnr: float | None
    vmaf: float | None
    compared_frames: int
    frame_offset: int
    seconds: float


def measure(
    binaries: Binaries, reel: Path, clip_frames: list[int], source: BenchSource, *, window: float | None, vmaf: bool
) -> Quality:
    """Loudness, tags, frame count and fidelity of `reel`, whose clips are `source.clips` cut to `clip_frames`."""
    started = time.perf_counter()
    integrated, clips = loudness(binaries, reel, [n / FPS for n in clip_frames])
    tags, frames = stream_facts(binaries, reel)
    offset = best_offset(binaries, reel, clip_frames, source, frames)
    ssim, psnr, vmaf_score, compared = fidelity(
        binaries, reel, clip_frames, source, window=window, vmaf=vmaf, offset=offset
    )
    return Quality(
        integrated_lufs=round(integrated, 2),
        clip_lufs=[round(c, 2) for c in clips],
        spread_lu=round(max(clips) - min(clips), 2),
        tags=tags,
        bt709=all(tags.get(k) == "bt709" for k in ("color_primaries", "color_transfer", "color_space"))
        and tags.get("pix_fmt") == "yuv420p",
        frames=frames,
        expected_frames=sum(clip_frames),
        ssim=ssim,
        psnr=psnr,
        vmaf=vmaf_score,
        compared_frames=compared,
        frame_offset=offset,
        seconds=round(time.perf_counter() - started, 1),
    )


def loudness(binaries: Binaries, reel: Path, clip_seconds: list[float]) -> tuple[float, list[float]]:
    """Integrated loudness of the reel and of each clip (edges skipped), by pyloudnorm (BS.1770-4)."""
    import numpy as np  # imported here so the in-process RSS of (c) is not inflated by the meters
    import pyloudnorm as pyln

    argv = [binaries.ffmpeg, "-v", "error", "-i", str(reel), "-vn", "-ac", "2", "-ar", str(SAMPLE_RATE)]
    pcm = subprocess.run([*argv, "-f", "f32le", "-"], capture_output=True, check=True).stdout
    audio = np.frombuffer(pcm, dtype="<f4").reshape(-1, 2)
    meter = pyln.Meter(SAMPLE_RATE)
    per_clip, t = [], 0.0
    for d in clip_seconds:
        lo, hi = int((t + LOUDNESS_EDGE_SECONDS) * SAMPLE_RATE), int((t + d - LOUDNESS_EDGE_SECONDS) * SAMPLE_RATE)
        per_clip.append(float(meter.integrated_loudness(audio[lo:hi])))
        t += d
    return float(meter.integrated_loudness(audio)), per_clip


def stream_facts(binaries: Binaries, reel: Path) -> tuple[dict[str, str | None], int]:
    """The video stream's colour tags and pixel format, and its frame (packet) count."""
    entries = "stream=pix_fmt,color_primaries,color_transfer,color_space,color_range,nb_read_packets"
    args = ["-select_streams", "v:0", "-count_packets", "-show_entries", entries, "-of", "json", str(reel)]
    stream = json.loads(run_ffprobe(binaries, args))["streams"][0]
    keys = ("color_primaries", "color_transfer", "color_space", "color_range", "pix_fmt")
    return {k: stream.get(k) for k in keys}, int(stream.get("nb_read_packets", 0))


def best_offset(binaries: Binaries, reel: Path, clip_frames: list[int], source: BenchSource, frames: int) -> int:
    """Frames the reel's picture is shifted by, when it has more or fewer frames than its clips.

    A reel with an extra frame (a duplicated first frame, say) would otherwise be compared one frame off
    all along, and SSIM would report the shift as lost quality. The offset is reported beside the scores.
    """
    extra = max(-MAX_OFFSET_FRAMES, min(MAX_OFFSET_FRAMES, frames - sum(clip_frames)))
    candidates = range(min(0, extra), max(0, extra) + 1)
    if len(candidates) == 1:
        return 0
    scores = {o: fidelity(binaries, reel, clip_frames, source, window=1.0, vmaf=False, offset=o)[0] for o in candidates}
    return max(candidates, key=lambda o: scores[o] or 0.0)


def fidelity(
    binaries: Binaries,
    reel: Path,
    clip_frames: list[int],
    source: BenchSource,
    *,
    window: float | None,
    vmaf: bool,
    offset: int = 0,
) -> tuple[float | None, float | None, float | None, int]:
    """SSIM, PSNR (and VMAF) of the reel against the same source frames, frame for frame, clip edges skipped.

    VMAF, the slow one, looks only at the middle VMAF_WINDOW_SECONDS of each compared clip, every 5th
    frame. `offset` shifts the reel's frame numbers (see best_offset).
    """
    picks = [_window(n, window) for n in clip_frames]
    args = ["-i", str(reel)]
    for clip, (first, count) in zip(source.clips, picks, strict=True):
        # Half a frame before the wanted frame: the seek keeps exactly the frames from it on.
        start = clip.start + (first - 0.5) / FPS
        args += ["-ss", f"{start:.6f}", "-t", f"{(count + 2) / FPS:.6f}", "-i", str(source.path)]
    starts = [offset + sum(clip_frames[:i]) for i in range(len(clip_frames))]
    legs = 3 if vmaf else 2
    graph = [
        f"[0:v]{_select([(at + first, count) for at, (first, count) in zip(starts, picks, strict=True)])},"
        f"split={legs}{_labels('r', legs)}",
        ";".join(f"[{i + 1}:v]trim=end_frame={c},setpts=PTS-STARTPTS[c{i}]" for i, (_, c) in enumerate(picks)),
        f"{_labels('c', len(picks))}concat=n={len(picks)}:v=1:a=0,setpts=N/{FPS}/TB,split={legs}{_labels('s', legs)}",
        "[r0][s0]ssim=shortest=1[o0]",
        "[r1][s1]psnr=shortest=1[o1]",
    ]
    if vmaf:
        middles = _vmaf_spans([count for _, count in picks])
        graph += [
            f"[r2]{middles}[rv];[s2]{middles}[sv]",
            f"[rv][sv]libvmaf=n_subsample={VMAF_SUBSAMPLE}:n_threads=2:shortest=1[o2]",
        ]
    outputs = [a for i in range(legs) for a in ("-map", f"[o{i}]", "-f", "null", "-")]
    stderr = run_ffmpeg(binaries, [*args, "-filter_complex", ";".join(graph), *outputs])
    return _last(_SSIM, stderr), _last(_PSNR, stderr), _last(_VMAF, stderr), sum(c for _, c in picks)


def _select(spans: list[tuple[int, int]]) -> str:
    # Keep frames [first, first + count) of each span, renumbered as one contiguous stream.
    terms = "+".join(f"between(n\\,{first}\\,{first + count - 1})" for first, count in spans)
    return f"select='{terms}',setpts=N/{FPS}/TB"


def _vmaf_spans(counts: list[int]) -> str:
    spans, at = [], 0
    for count in counts:
        keep = min(count, round(VMAF_WINDOW_SECONDS * FPS))
        spans.append((at + (count - keep) // 2, keep))
        at += count
    return _select(spans)


def _labels(prefix: str, count: int) -> str:
    return "".join(f"[{prefix}{i}]" for i in range(count))


def _window(frames: int, seconds: float | None) -> tuple[int, int]:
    # The clip minus its edges; with `seconds`, only that much from the middle of it.
    lo, hi = PICTURE_EDGE_FRAMES, frames - PICTURE_EDGE_FRAMES
    count = hi - lo if seconds is None else min(hi - lo, round(seconds * FPS))
    return lo + (hi - lo - count) // 2, count


def _last(pattern: re.Pattern[str], text: str) -> float | None:
    found = pattern.findall(text)
    if not found:
        return None
    value = found[-1]
    return float("inf") if value == "inf" else float(value)
