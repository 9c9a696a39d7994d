"""What a smart reel is, measured by ffmpeg, ffprobe and numpy: frames, timestamps, copied bits, SSIM, A/V sync."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from app.domain.result import JobResult
from app.media.ffmpeg import Binaries
from bench.procs import run_ffmpeg, run_ffprobe
from bench.source import FPS, BenchSource

SAMPLE_RATE = 48000
AAC_FRAME = 1024  # samples: one AAC frame
_SYNC_WINDOW = 0.5  # seconds of a clip's opening compared with the source
_SYNC_SEARCH = 0.1  # seconds either way
_SSIM = re.compile(r"All:([\d.]+)")


@dataclass(frozen=True)
class ReelCheck:
    """The smart reel's figures."""

    frames: int
    expected_frames: int
    timestamps_exact: bool  # every frame at k/fps, k = 0..frames-1, none twice
    copied_compared: int  # frames of the copied ranges (from the source's IDRs) compared by framemd5
    copied_identical: int
    copied_reported: int  # what the job result says it copied
    ssim_mean: float
    ssim_min: float
    av_offsets_ms: list[float]  # per clip start: the sound's offset against the picture
    load: float

    @property
    def av_offset_max_ms(self) -> float:
        """The worst joint."""
        return max(abs(v) for v in self.av_offsets_ms)

    @property
    def audio_frame_ms(self) -> float:
        """One AAC frame, the target's unit."""
        return AAC_FRAME / SAMPLE_RATE * 1000


def check_reel(binaries: Binaries, reel: Path, source: BenchSource, result: JobResult, *, load: float) -> ReelCheck:
    """Measure `reel`, whose clips are `result.segments` of `source` (cut transitions: no fades)."""
    clips = [(round(s.start * FPS), round((s.end - s.start) * FPS)) for s in result.segments]
    numbers = _frame_numbers(binaries, reel)
    compared = identical = 0
    scores: list[float] = []
    at = 0
    for first, count in clips:
        idrs = idr_frames(binaries, source.path, first, count)
        head_end, tail_start = idrs[0], idrs[-1]
        reel_md5, source_md5, ssim = _compare(binaries, reel, source.path, at, first, count)
        copied = slice(head_end - first, tail_start - first)
        ours, theirs = reel_md5[copied], source_md5[copied]
        compared += len(theirs)
        identical += sum(a == b for a, b in zip(ours, theirs, strict=True))
        scores += ssim
        at += count
    return ReelCheck(
        frames=len(numbers),
        expected_frames=sum(c for _, c in clips),
        timestamps_exact=sorted(numbers) == list(range(len(numbers))),
        copied_compared=compared,
        copied_identical=identical,
        copied_reported=sum(s.copied_frames for s in result.segments),
        ssim_mean=float(np.mean(scores)),
        ssim_min=float(np.min(scores)),
        av_offsets_ms=_av_offsets(binaries, reel, source, clips),
        load=load,
    )


def _frame_numbers(binaries: Binaries, reel: Path) -> list[int]:
    args = ["-select_streams", "v:0", "-show_entries", "stream=time_base:packet=pts", "-of", "json", str(reel)]
    data = json.loads(run_ffprobe(binaries, args))
    tb = Fraction(data["streams"][0]["time_base"])
    exact = [int(p["pts"]) * tb * FPS for p in data["packets"]]
    return [int(e) if e.denominator == 1 else -1 for e in exact]


def idr_frames(binaries: Binaries, source: Path, first: int, count: int) -> list[int]:
    """The source's IDR frames in [first, first + count], as the decoder marks them (only keyframes decoded)."""
    interval = f"{first / FPS:.6f}%{(first + count) / FPS + 0.01:.6f}"
    args = ["-select_streams", "v:0", "-skip_frame", "nokey", "-read_intervals", interval]
    args += ["-show_entries", "stream=time_base:frame=pts,key_frame", "-of", "json", str(source)]
    data = json.loads(run_ffprobe(binaries, args))
    tb = Fraction(data["streams"][0]["time_base"])
    keys = [round(int(f["pts"]) * tb * FPS) for f in data["frames"] if int(f["key_frame"])]
    return [k for k in keys if first <= k <= first + count]


def _compare(
    binaries: Binaries, reel: Path, source: Path, at: int, first: int, count: int
) -> tuple[list[str], list[str], list[float]]:
    """framemd5 of the clip in the reel and in the source, and each frame's SSIM, from one decode of each."""
    with tempfile.TemporaryDirectory() as tmp:
        stats, reel_md5, source_md5 = Path(tmp) / "ssim.log", Path(tmp) / "r.md5", Path(tmp) / "s.md5"
        args = []
        for path, start in ((reel, at), (source, first)):
            # Half a frame early: the accurate seek keeps exactly the frames from `start` on.
            args += ["-ss", f"{max(start - 0.5, 0) / FPS:.6f}", "-i", str(path)]
        # Both from 0: SSIM pairs frames by time, and the two seeks leave different offsets.
        graph = "[0:v]setpts=PTS-STARTPTS,split[r0][r1];[1:v]setpts=PTS-STARTPTS,split[s0][s1];"
        graph += f"[r0][s0]ssim=stats_file={stats}"
        run_ffmpeg(
            binaries,
            [*args, "-filter_complex", graph, "-frames:v", str(count), "-f", "null", "-"]
            + ["-map", "[r1]", "-frames:v", str(count), "-f", "framemd5", str(reel_md5)]
            + ["-map", "[s1]", "-frames:v", str(count), "-f", "framemd5", str(source_md5)],
        )
        ssim = [float(m.group(1)) for m in _SSIM.finditer(stats.read_text())][:count]
        return _hashes(reel_md5), _hashes(source_md5), ssim


def _hashes(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [ln.rsplit(",", 1)[1].strip() for ln in lines if ln and not ln.startswith("#")]


def _av_offsets(binaries: Binaries, reel: Path, source: BenchSource, clips: list[tuple[int, int]]) -> list[float]:
    """Per clip: where its opening sound lies in the source, against where its first frame came from, in ms.

    The first frame of each clip is the source's frame at the clip's start (checked above); the clip's
    sound should start at that same source instant. Cross-correlating the reel's first half second with
    the source around it finds the lag; gain and the AAC encode do not move the peak.
    """
    reel_audio = _pcm(binaries, reel, 0.0, None)
    offsets, at = [], 0
    for first, count in clips:
        t0 = at / FPS
        ours = reel_audio[round(t0 * SAMPLE_RATE) : round((t0 + _SYNC_WINDOW) * SAMPLE_RATE)]
        around = _pcm(binaries, source.path, first / FPS - _SYNC_SEARCH, _SYNC_WINDOW + 2 * _SYNC_SEARCH)
        corr = np.correlate(around, ours, mode="valid")
        norms = np.sqrt(np.convolve(around**2, np.ones(len(ours)), mode="valid")) + 1e-12
        lag = int(np.argmax(corr / norms)) - round(_SYNC_SEARCH * SAMPLE_RATE)
        offsets.append(round(lag / SAMPLE_RATE * 1000, 3))
        at += count
    return offsets


def _pcm(binaries: Binaries, path: Path, start: float, duration: float | None) -> np.ndarray:
    args = [binaries.ffmpeg, "-v", "error", "-ss", f"{max(start, 0.0):.6f}"]
    args += [] if duration is None else ["-t", f"{duration:.6f}"]
    args += ["-i", str(path), "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"]
    pcm = subprocess.run(args, capture_output=True, check=True).stdout
    return np.frombuffer(pcm, dtype="<f4").astype(np.float64)
