"""The benchmark's source: a cached 1080p30 H.264 file with speech-like passages at very different loudness."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from app.media.ffmpeg import Binaries
from app.stages.render import BT709_TAGS
from bench.procs import run_ffmpeg
from tests.support.media import SPEECHY_LUFS, speech_passages

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
WIDTH, HEIGHT, FPS = 1920, 1080, 30
CLIP_COUNT = 5
CLIP_SECONDS = 30.0
# One passage per fifth of the source, each clip inside one passage: a reel whose raw clips differ by 21 LU.
LEVELS_LUFS = (-24.0, -35.0, -14.0, -30.0, -19.0)
# Bump when the generator changes so a stale cached source is rebuilt.
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class Clip:
    """One highlight: where it starts in the source, how long it is, and the loudness it was generated at."""

    start: float
    duration: float
    level_lufs: float

    @property
    def frames(self) -> int:
        """Length in frames of the source's frame grid."""
        return round(self.duration * FPS)


@dataclass(frozen=True)
class BenchSource:
    """The cached source file and the highlights the benchmark takes from it."""

    path: Path
    duration: float
    clips: tuple[Clip, ...]

    @property
    def reel_seconds(self) -> float:
        """Total length of the highlights."""
        return sum(c.duration for c in self.clips)


def highlights_for(duration: float) -> tuple[Clip, ...]:
    """Five clips, one centred in each fifth; 30 s each, shorter when a fifth is too short for that."""
    fifth = duration / CLIP_COUNT
    length = float(min(CLIP_SECONDS, math.floor(fifth * 0.8)))
    if length < 15:
        raise ValueError(f"a {duration:.0f} s source is too short for five clips of at least 15 s")
    # Whole-second starts sit on the 30 fps frame grid, so every approach cuts the same frames.
    return tuple(
        Clip(float(round(i * fifth + (fifth - length) / 2)), length, LEVELS_LUFS[i]) for i in range(CLIP_COUNT)
    )


def ensure_source(binaries: Binaries, minutes: float, *, gop: int | None = None) -> BenchSource:
    """The source for `minutes`, generated once and kept in bench/.cache/; `gop`: a keyframe every `gop` frames."""
    duration = minutes * 60
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    name = f"source_{minutes:g}min" + (f"_gop{gop}" if gop else "")
    path = CACHE_DIR / f"{name}_v{GENERATOR_VERSION}.mp4"
    stamp = path.with_suffix(".json")
    recipe = _recipe(duration) | ({"gop": gop} if gop else {})
    if not (path.exists() and stamp.exists() and json.loads(stamp.read_text()) == recipe):
        print(f"generating {path.name} ({minutes:g} min 1080p30; cached for later runs) ...", flush=True)
        part = path.with_name(f".{path.name}.{os.getpid()}.part.mp4")
        # A fixed GOP: libx264's keyframes every `gop` frames, none added at (testsrc2's absent) scene cuts.
        keys = ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"] if gop else []
        args = _generate_args(duration, part)
        run_ffmpeg(binaries, [*args[:-1], *keys, args[-1]])
        os.replace(part, path)
        stamp.write_text(json.dumps(recipe))
    return BenchSource(path=path, duration=duration, clips=highlights_for(duration))


def warm_page_cache(path: Path) -> None:
    """Read the file once so no approach pays for the first read from disk."""
    with path.open("rb") as f:
        while f.read(1 << 22):
            pass


def _recipe(duration: float) -> dict[str, object]:
    return {"version": GENERATOR_VERSION, "duration": duration, "levels": list(LEVELS_LUFS), "size": [WIDTH, HEIGHT]}


def _generate_args(duration: float, out: Path) -> list[str]:
    gains = [level - SPEECHY_LUFS for level in LEVELS_LUFS]
    # testsrc2 drawn in RGB and converted with the BT.709 matrix, so the BT.709 tags tell the truth.
    video = "[0:v]format=rgb24,scale=out_color_matrix=bt709:out_range=tv,format=yuv420p[v]"
    return [
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}:duration={duration}",
        "-filter_complex",
        f"{video};{speech_passages(gains, duration / len(gains))}",
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "20",
        "-pix_fmt",
        "yuv420p",
        *BT709_TAGS,
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ar",
        "48000",
        "-t",
        f"{duration}",
        "-movflags",
        "+faststart",
        str(out),
    ]
