"""EBU R128 loudness of time ranges of a file, with ffmpeg's ebur128 filter, in one process."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.media.ffmpeg import run
from app.media.inputs import source_input

# Every measure and every render converts audio the same way first, so the gain computed from a
# measure is exact for the render (mono upmixed to stereo changes BS.1770 loudness by +3 LU).
AUDIO_FORMAT = "aresample=48000,aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo"
SILENCE_LUFS = -70.0  # ebur128 reports this when every block is gated out
# Below this a range holds room tone, not speech or music: it is left as it is (raising it to the
# target would only amplify noise) and it takes no part in the spread between clips.
AUDIBLE_FLOOR_LUFS = -60.0

_SUMMARY = re.compile(r"^\[(?P<name>m\d+) @ [^\]]+\] Summary:")
_INTEGRATED = re.compile(r"^\s*I:\s+(?P<v>-?[\d.]+|-inf) LUFS")
_PEAK = re.compile(r"^\s*Peak:\s+(?P<v>-?[\d.]+|-inf) dBFS")


def is_silent(lufs: float) -> bool:
    """True for an integrated loudness under the audible floor: room tone or silence, not programme."""
    return lufs < AUDIBLE_FLOOR_LUFS


@dataclass(frozen=True)
class Loudness:
    """Integrated loudness (LUFS) and true peak (dBTP) of one range."""

    integrated: float
    true_peak: float

    @property
    def silent(self) -> bool:
        """True when the range is quieter than the audible floor: it is left as it is."""
        return is_silent(self.integrated)


@dataclass(frozen=True)
class TimeRange:
    """[start, start + duration) in seconds, and audio filters to apply before metering it."""

    start: float
    duration: float
    filters: tuple[str, ...] = ()


async def measure_ranges(ffmpeg: str, path: Path, ranges: Sequence[TimeRange]) -> list[Loudness]:
    """Loudness of each range of `path`'s first audio stream, all ranges in one ffmpeg run."""
    if not ranges:
        return []
    args = ["-hide_banner", "-nostats", "-v", "info"]
    for r in ranges:
        args += source_input(path, start=r.start, duration=r.duration)
    chains = [
        f"[{i}:a:0]{','.join((AUDIO_FORMAT, *r.filters))},ebur128@m{i}=peak=true:framelog=quiet[m{i}]"
        for i, r in enumerate(ranges)
    ]
    args += ["-filter_complex", ";".join(chains)]
    for i in range(len(ranges)):
        args += ["-map", f"[m{i}]"]
    args += ["-f", "null", "-"]
    result = await run(ffmpeg, args, stderr_lines=100 * len(ranges) + 400)
    return _parse_summaries(result.stderr, len(ranges))


def _parse_summaries(stderr: str, count: int) -> list[Loudness]:
    # ffmpeg configures the graph twice and each configuration prints a summary: keep the last.
    found: dict[int, Loudness] = {}
    current: int | None = None
    integrated = SILENCE_LUFS
    for line in stderr.splitlines():
        if m := _SUMMARY.match(line):
            current = int(m["name"][1:])
        elif current is not None and (m := _INTEGRATED.match(line)):
            integrated = _db(m["v"])
        elif current is not None and (m := _PEAK.match(line)):
            found[current] = Loudness(max(integrated, SILENCE_LUFS), _db(m["v"]))
            current = None
    missing = [i for i in range(count) if i not in found]
    if missing:
        raise ValueError(f"ebur128 printed no summary for ranges {missing}")
    return [found[i] for i in range(count)]


def _db(text: str) -> float:
    value = float(text)
    return SILENCE_LUFS if math.isnan(value) or math.isinf(value) else value
