"""A long, cheap source for the memory check: a short small clip, looped by stream copy (seconds to make)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from app.media.ffmpeg import Binaries
from bench.procs import run_ffmpeg
from bench.source import CACHE_DIR

LOOP_SECONDS = 120
SIZE, RATE = "320x180", 10  # already the analysis width: the check is about memory, not scaling


def ensure_long_source(binaries: Binaries, hours: float) -> Path:
    """An H.264 + AAC file of `hours`, testsrc2 at 320x180 10 fps with a tone, cached in bench/.cache/."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"long_{hours:g}h_{SIZE}_{RATE}fps.mp4"
    if path.exists():
        return path
    print(f"generating {path.name} (a {LOOP_SECONDS} s clip looped by stream copy) ...", flush=True)
    clip = CACHE_DIR / f".long_clip_{os.getpid()}.mp4"
    run_ffmpeg(binaries, [
        "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={RATE}:duration={LOOP_SECONDS}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={LOOP_SECONDS}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(RATE * 10), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "64k", "-shortest", str(clip),
    ])
    loops = math.ceil(hours * 3600 / LOOP_SECONDS)
    part = path.with_name(f".{path.name}.{os.getpid()}.part.mp4")
    run_ffmpeg(binaries, ["-stream_loop", str(loops - 1), "-i", str(clip), "-c", "copy", str(part)])
    os.replace(part, path)
    clip.unlink()
    return path
