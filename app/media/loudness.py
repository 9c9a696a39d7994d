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
    """Integrated loudness (LUFS) and true peak (dBTP; None when the range was metered without it) of one range."""

    integrated: float
    true_peak: float | None

    @property
    def silent(self) -> bool:
        """True when the range is quieter than the audible floor: it is left as it is."""
        return is_silent(self.integrated)


@dataclass(frozen=True)
class TimeRange:
    """[start, start + duration) in seconds, audio filters to apply before metering it, and whether its true peak
    is wanted (4x oversampled: some 60 % of the meter's work, so asked for only where it is used)."""

    start: float
    duration: float
    filters: tuple[str, ...] = ()
    true_peak: bool = True

    @property
    def audio(self) -> tuple[float, float, tuple[str, ...]]:
        """What is heard: two ranges with the same audio are metered once."""
        return self.start, self.duration, self.filters


async def measure_ranges(ffmpeg: str, path: Path, ranges: Sequence[TimeRange]) -> list[Loudness]:
    """Loudness of each range of `path`'s first audio stream, all ranges in one ffmpeg run, each audio once."""
    metered: dict[tuple[float, float, tuple[str, ...]], TimeRange] = {}
    for r in ranges:
        seen = metered.get(r.audio)
        metered[r.audio] = r if seen is None else TimeRange(*r.audio, true_peak=seen.true_peak or r.true_peak)
    if not metered:
        return []
    unique = list(metered.values())
    args = ["-hide_banner", "-nostats", "-v", "info"]
    for r in unique:
        args += source_input(path, start=r.start, duration=r.duration)
    chains = [
        f"[{i}:a:0]{','.join((AUDIO_FORMAT, *r.filters))},"
        f"ebur128@m{i}=peak={'true' if r.true_peak else 'none'}:framelog=quiet[m{i}]"
        for i, r in enumerate(unique)
    ]
    args += ["-filter_complex", ";".join(chains)]
    for i in range(len(unique)):
        args += ["-map", f"[m{i}]"]
    args += ["-f", "null", "-"]
    result = await run(ffmpeg, args, stderr_lines=100 * len(unique) + 400)
    found = dict(zip(metered, _parse_summaries(result.stderr, [r.true_peak for r in unique]), strict=True))
    return [found[r.audio] for r in ranges]


def _parse_summaries(stderr: str, true_peaks: Sequence[bool]) -> list[Loudness]:
    """Each range's summary, in order; `true_peaks` says which ranges were metered with their true peak."""
    # ffmpeg configures the graph twice and each configuration prints a summary: keep the last.
    found: dict[int, Loudness] = {}
    current: int | None = None
    for line in stderr.splitlines():
        if m := _SUMMARY.match(line):
            current = int(m["name"][1:])
        elif current is not None and (m := _INTEGRATED.match(line)):
            found[current] = Loudness(max(_db(m["v"]), SILENCE_LUFS), None)
        elif current is not None and current in found and (m := _PEAK.match(line)):
            found[current] = Loudness(found[current].integrated, _db(m["v"]))
    missing = [i for i, peak in enumerate(true_peaks) if i not in found or peak and found[i].true_peak is None]
    if missing:
        raise ValueError(f"ebur128 printed no summary for ranges {missing}")
    return [found[i] for i in range(len(true_peaks))]


def _db(text: str) -> float:
    value = float(text)
    return SILENCE_LUFS if math.isnan(value) or math.isinf(value) else value
