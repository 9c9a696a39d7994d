"""What a reel must be, measured on the reel itself with meters that are not ours."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.config import Settings
from tests.support.cache import SourceCache
from tests.support.jobs import QUICK_ENCODE, submit, wait_final
from tests.support.media import ffmpeg, make_source
from tests.support.meter import frame_yuv, measure_reel, video_stream


async def test_reel_from_uneven_loudness_meets_every_target(
    client: httpx.AsyncClient, settings: Settings, sources: SourceCache
) -> None:
    name = sources.link(
        "uneven_talk.mp4",  # the picture's size is not what is checked: the smallest that is still a video
        settings.media_root,
        lambda p: make_source(p, seconds=60, levels_lufs=(-40, -12, -25)),
    )
    highlights = [
        {"start_time": 2, "end_time": 18, "score": 0.9},
        {"start_time": 22, "end_time": 38, "score": 0.8},
        {"start_time": 42, "end_time": 58, "score": 0.7},
    ]
    started = time.monotonic()
    job = await wait_final(client, (await submit(client, name, highlights=highlights))["id"], timeout=280)
    wall = time.monotonic() - started
    assert job["status"] == "completed", job["error"]
    result = job["result"]
    reel = Path(result["output_path"])

    stream = video_stream(reel)
    assert (stream["color_primaries"], stream["color_transfer"], stream["color_space"]) == ("bt709",) * 3
    assert stream["pix_fmt"] == "yuv420p"
    assert abs(float(stream["duration"]) - 48.0) <= 1 / 25

    loudness = measure_reel(reel, [16, 16, 16])
    assert abs(loudness.integrated - -16.0) <= 0.5, loudness
    assert loudness.spread <= 1.5, loudness

    # The result carries the same figures, measured by us.
    assert result["color_space"] == "bt709"
    assert abs(result["audio_loudness"] - loudness.integrated) <= 0.3
    assert result["loudness_spread_lu"] <= 1.5
    assert result["segments_processed"] == 3
    assert [(s["start"], s["end"], s["score"]) for s in result["segments"]] == [
        (2.0, 18.0, 0.9),
        (22.0, 38.0, 0.8),
        (42.0, 58.0, 0.7),
    ]
    assert abs(result["duration"] - 48.0) <= 1 / 25
    assert result["processing_ratio"] > 0  # speed is measured by bench/, not by timed tests
    assert set(result["stage_seconds"]) == {"fetch", "validate", "analyze", "render", "verify"}
    # The source really was uneven: the gains differ by tens of dB.
    gains = [s["gain_db"] for s in result["segments"]]
    assert max(gains) - min(gains) > 20
    print(f"\n180p job: {wall:.1f} s wall for a {result['duration']:.0f} s reel (stages {result['stage_seconds']})")


def _ycbcr_709(rgb: tuple[int, int, int], *, primaries_from_601: bool) -> tuple[float, float, float]:
    """Limited-range BT.709 Y'CbCr of an 8-bit R'G'B' colour, optionally first moved from SMPTE-C primaries.

    Primaries are converted in display light: BT.1886's EOTF (a 2.4 power with a zero black level) to
    linear, a 3x3 matrix, and back, as a reference display would show the colour.
    """
    e = np.array(rgb, dtype=float) / 255
    if primaries_from_601:
        e = np.clip(_SMPTE_C_TO_709 @ e**2.4, 0, 1) ** (1 / 2.4)
    r, g, b = e
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 16 + 219 * y, 128 + 224 * (b - y) / 1.8556, 128 + 224 * (r - y) / 1.5748


def _rgb_to_xyz(primaries: list[tuple[float, float]]) -> np.ndarray:
    white = np.array([0.3127 / 0.3290, 1.0, (1 - 0.3127 - 0.3290) / 0.3290])
    m = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in primaries]).T
    return m * np.linalg.solve(m, white)


_SMPTE_C_TO_709 = np.linalg.inv(_rgb_to_xyz([(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)])) @ _rgb_to_xyz(
    [(0.630, 0.340), (0.310, 0.595), (0.155, 0.070)]
)


async def test_bt601_source_is_converted_to_bt709_not_just_retagged(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    colour = (32, 192, 32)
    path = settings.media_root / "sd601.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=0x20C020:s=640x480:r=25:d=16",
        "-f",
        "lavfi",
        "-i",
        "sine=d=16",
        "-vf",
        "scale=out_color_matrix=bt601:out_range=tv,format=yuv420p",
        "-colorspace",
        "smpte170m",
        "-color_primaries",
        "smpte170m",
        "-color_trc",
        "smpte170m",
        "-c:v",
        "libx264",
        "-crf",
        "1",
        "-preset",
        "ultrafast",
        "-c:a",
        "aac",
        "-shortest",
        str(path),
    )
    job = await wait_final(client, (await submit(client, "sd601.mp4"))["id"])
    assert job["status"] == "completed", job["error"]
    reel = Path(job["result"]["output_path"])
    assert video_stream(reel)["color_space"] == "bt709"

    y, cb, cr = frame_yuv(reel, 8.0, 640, 480)
    got = np.array([np.median(y), np.median(cb), np.median(cr)])
    expected = _ycbcr_709(colour, primaries_from_601=True)
    assert np.allclose(got, expected, atol=2), (got, expected)
    # Re-tagging alone would have kept the source's BT.601 code values, far from these.
    r, g, b = (c / 255 for c in colour)
    y601 = 0.299 * r + 0.587 * g + 0.114 * b
    retagged = np.array([16 + 219 * y601, 128 + 224 * (b - y601) / 1.772, 128 + 224 * (r - y601) / 1.402])
    assert np.abs(got - retagged).max() > 10, (got, retagged)


@pytest.mark.parametrize(("label", "trc"), [("PQ", "smpte2084"), ("HLG", "arib-std-b67")])
async def test_hdr_source_is_rejected_with_clear_error(
    client: httpx.AsyncClient, settings: Settings, label: str, trc: str
) -> None:
    make_source(
        settings.media_root / f"{label}.mp4",
        seconds=16,
        levels_lufs=None,
        video_args=["-color_primaries", "bt2020", "-color_trc", trc, "-colorspace", "bt2020nc"],
    )
    job = await wait_final(client, (await submit(client, f"{label}.mp4"))["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "hdr_unsupported"
    assert "HDR input not supported" in job["error"]["message"]
    assert job["result"] is None


async def test_truncated_file_fails_with_a_message_a_person_understands(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    whole = make_source(settings.media_root / "whole.mp4", seconds=20, container_args=["-movflags", "+faststart"])
    data = whole.read_bytes()
    (settings.media_root / "cut.mp4").write_bytes(data[: len(data) // 2])
    job = await wait_final(client, (await submit(client, "cut.mp4"))["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "source_truncated"
    assert "truncated or corrupt" in job["error"]["message"] and "'cut.mp4'" in job["error"]["message"]


async def test_random_bytes_fail_as_unreadable(client: httpx.AsyncClient, settings: Settings) -> None:
    (settings.media_root / "noise.mp4").write_bytes(np.random.default_rng(7).bytes(200_000))
    job = await wait_final(client, (await submit(client, "noise.mp4"))["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "source_unreadable"
    assert "could not be read as a video" in job["error"]["message"]
    assert "Traceback" not in job["error"]["message"]


async def test_audio_only_file_fails_as_having_no_video(client: httpx.AsyncClient, settings: Settings) -> None:
    ffmpeg("-f", "lavfi", "-i", "sine=d=20", "-c:a", "aac", str(settings.media_root / "song.m4a"))
    job = await wait_final(client, (await submit(client, "song.m4a"))["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "no_video_stream"


async def test_source_without_audio_gives_a_reel_with_a_silent_track(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    make_source(settings.media_root / "mute.mp4", seconds=20, levels_lufs=None)
    job = await wait_final(client, (await submit(client, "mute.mp4", output=QUICK_ENCODE))["id"])
    assert job["status"] == "completed", job["error"]
    result = job["result"]
    assert result["audio_loudness"] is None and result["loudness_spread_lu"] is None
    stream = video_stream(Path(result["output_path"]))
    assert len(stream["audio_streams"]) == 1
    assert abs(float(stream["duration"]) - 20.0) <= 0.04


async def test_vertical_phone_video_with_mono_audio(client: httpx.AsyncClient, settings: Settings) -> None:
    # Stored landscape with a rotation flag, as phones write it; mono AAC.
    stored = make_source(settings.media_root / "stored.mp4", seconds=24, size="640x360", rate="30", mono=True)
    ffmpeg("-display_rotation", "90", "-i", str(stored), "-c", "copy", str(settings.media_root / "phone.mp4"))
    body = {"highlights": [{"start_time": 3, "end_time": 20}], "output": QUICK_ENCODE}
    job = await wait_final(client, (await submit(client, "phone.mp4", **body))["id"])
    assert job["status"] == "completed", job["error"]
    reel = Path(job["result"]["output_path"])
    stream = video_stream(reel)
    assert (stream["width"], stream["height"]) == (360, 640)
    assert stream["audio_streams"][0]["channels"] == 2
    loudness = measure_reel(reel, [17])
    assert abs(loudness.integrated - -16.0) <= 0.5
