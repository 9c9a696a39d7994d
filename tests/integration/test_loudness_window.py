"""Analyze and verify meter a clip on one window, its fades left out: a burst under a fade cannot make room tone
look like speech to one meter and silence to the other."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.config import Settings
from app.media.ffmpeg import find_binaries
from app.media.loudness import TimeRange, measure_ranges
from app.stages.transitions import FADE_SECONDS, metered_part
from tests.support.jobs import submit, wait_final
from tests.support.media import ffmpeg, make_source


def test_the_metered_part_of_a_clip_leaves_its_fades_out() -> None:
    assert metered_part("fade", 16.0) == (FADE_SECONDS, 16.0 - 2 * FADE_SECONDS)
    assert metered_part("cut", 16.0) == (0.0, 16.0)
    assert metered_part("fade", 0.9) == (FADE_SECONDS, 0.4)  # never shorter than one gating block


def _room_tone_after_a_burst(path: Path) -> None:
    # A loud tone for the first 0.4 s (inside the fade-in), then room tone at about -75 dBFS for 15.6 s.
    sound = "aevalsrc=exprs='if(lt(t\\,0.4)\\, 0.5*sin(2*PI*440*t)\\, 0.0002*(2*random(0)-1))':s=48000:d=16"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=16", "-f", "lavfi", "-i", sound,
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "128k", "-t", "16", str(path))  # fmt: skip


async def test_room_tone_behind_a_faded_burst_is_left_as_it_is(settings: Settings, client: httpx.AsyncClient) -> None:
    _room_tone_after_a_burst(settings.media_root / "tone.mp4")
    highlights = [{"start_time": 0.0, "end_time": 16.0, "score": 1.0, "transition": "fade"}]
    job = await submit(client, "tone.mp4", highlights=highlights)
    done = await wait_final(client, job["id"], timeout=120)
    assert done["status"] == "completed", done["error"]
    [segment] = done["result"]["segments"]
    # Both meters heard room tone: it is not lifted toward -16 LUFS (the burst alone would have asked ~+25 dB).
    assert segment["silent"] is True and segment["loudness"] is None
    assert segment["source_loudness"] is not None and segment["source_loudness"] < -60
    assert segment["gain_db"] == 0.0


async def test_ranges_are_metered_once_each_with_their_true_peak_only_where_asked(tmp_path: Path) -> None:
    source = make_source(tmp_path / "two.mp4", seconds=8, levels_lufs=(-30.0, -20.0))
    ranges = [
        TimeRange(0.0, 8.0),
        TimeRange(4.0, 4.0, true_peak=False),
        TimeRange(0.0, 8.0, true_peak=False),  # the first range again: metered once, with its true peak
        TimeRange(0.5, 7.0, ("volume=-6dB",), true_peak=False),
    ]
    ffmpeg = find_binaries().ffmpeg
    whole, loud, again, quieter = await measure_ranges(ffmpeg, source, ranges)
    assert again == whole and whole.true_peak is not None
    assert loud.true_peak is None and quieter.true_peak is None
    # Metered without its true peak, a range measures what it measures with it.
    [loud_with_peak] = await measure_ranges(ffmpeg, source, [TimeRange(4.0, 4.0)])
    assert loud_with_peak.integrated == loud.integrated and loud_with_peak.true_peak is not None
    assert abs(loud.integrated - -20.0) <= 1.0, loud  # the generator's passage level, through AAC, on the meter
    assert whole.integrated < loud.integrated and quieter.integrated < whole.integrated
