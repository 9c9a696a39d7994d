"""A filmstrip of the source: one JPEG sprite of small frames from a keyframe-only decode.

The decoder skips every frame but keyframes (`-skip_frame nokey`), so a long-GOP source costs a few
decoded pictures a second of video instead of all of them: seconds for an hour (bench figures in the
README's Studio API section). The `fps` filter then samples the keyframes on a regular grid of `interval`
seconds (each slot the last keyframe at or before it, repeated where keyframes are sparser than that), and
`tile` lays the samples out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from app.media.ffmpeg import run
from app.media.files import part_name, publish
from app.media.inputs import source_input

TILE_WIDTH = 160
COLUMNS = 10
MAX_TILES = 200  # a 1600 x 1800 px sprite at 16:9: an hour of source is a tile every 18 s
MIN_INTERVAL = 2.0  # seconds: finer than most sources' keyframes, so short sources show each one
_SHOWN = re.compile(r"Parsed_showinfo.*\bpts_time:\s*(-?[\d.]+)")


@dataclass(frozen=True)
class FilmstripLayout:
    """How the sprite is cut: `count` tiles of `tile` px, `columns` a row, tile i near i × `interval` s."""

    interval: float
    tile: tuple[int, int]
    columns: int
    count: int


@dataclass(frozen=True)
class Sprite:
    """The written sprite, what proves it is the one written, and the keyframe time each tile shows."""

    path: Path
    size: int
    sha256: str
    layout: FilmstripLayout
    times: list[float]


def layout_for(duration: float, display_aspect: float) -> FilmstripLayout:
    """The grid for a source of `duration` s whose picture is `display_aspect` (width / height) as shown."""
    interval = max(MIN_INTERVAL, math.ceil(duration / MAX_TILES))
    count = max(1, math.ceil(duration / interval))
    height = max(2, round(TILE_WIDTH / display_aspect / 2) * 2)
    return FilmstripLayout(
        interval=float(interval), tile=(TILE_WIDTH, height), columns=min(COLUMNS, count), count=count
    )


def tile_times(keyframes: list[float], layout: FilmstripLayout) -> list[float]:
    """The keyframe each tile shows: the last one at or before its slot (`fps` rounding each keyframe up to a slot)."""
    if not keyframes:
        return []
    first, times, k = keyframes[0], [], 0
    for i in range(layout.count):
        while k + 1 < len(keyframes) and math.ceil((keyframes[k + 1] - first) / layout.interval - 1e-9) <= i:
            k += 1
        times.append(round(keyframes[k], 3))
    return times


async def write_filmstrip(ffmpeg: str, source: Path, out: Path, layout: FilmstripLayout) -> Sprite:
    """Decode the keyframes of `source` and write the sprite to `out` (through a temp name)."""
    rows = math.ceil(layout.count / layout.columns)
    width, height = layout.tile
    graph = (
        f"showinfo,fps=1/{layout.interval:g}:round=up:eof_action=pass,scale={width}:{height}:flags=bilinear,setsar=1,"
        f"tile={layout.columns}x{rows}"
    )
    part = part_name(out)
    args = ["-nostats", "-v", "info", "-skip_frame", "nokey", *source_input(source), "-map", "0:v:0"]
    args += ["-vf", graph, "-frames:v", "1", "-q:v", "4", "-c:v", "mjpeg", "-f", "image2", "-update", "1", str(part)]
    # Every keyframe's showinfo line is read: an hour of 2 s GOPs is 1800 of them.
    result = await run(ffmpeg, args, stderr_lines=100_000)
    keyframes = [float(m.group(1)) for line in result.stderr.splitlines() if (m := _SHOWN.search(line))]
    size, digest = await publish(part, out)
    return Sprite(out, size, digest, layout, tile_times(keyframes, layout))
