"""Quality gates: every audible clip lands on −16 LUFS whatever its level, and a reel that misses is corrected or fails.

Loudness and true peak are measured with pyloudnorm and scipy on the decoded reel, never with our own meter.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.domain.spec import Highlight, JobSpec
from app.media.ffmpeg import find_binaries
from app.stages.analyze import analyze
from app.stages.fetch import in_place
from app.stages.render import concat as join
from app.stages.render import render_segment
from app.stages.validate import validate
from app.stages.verify import verify
from tests.conftest import running_service
from tests.support.cache import SourceCache
from tests.support.jobs import QUICK_ENCODE, submit, wait_final
from tests.support.media import ffmpeg, make_source
from tests.support.meter import measure_reel, reel_audio, true_peak_dbtp

PASSAGE = 16.0  # seconds of source per level; each clip takes 15 s of it


def _clips(count: int) -> list[dict[str, float]]:
    return [{"start_time": i * PASSAGE + 0.5, "end_time": i * PASSAGE + 15.5} for i in range(count)]


async def test_clips_from_minus_58_to_minus_5_lufs_all_land_on_minus_16(
    client: httpx.AsyncClient, settings: Settings, sources: SourceCache
) -> None:
    levels = (-58, -45, -30, -14, -5)
    name = sources.link(
        "levels.mp4",
        settings.media_root,
        lambda p: make_source(p, seconds=PASSAGE * len(levels), levels_lufs=levels),
    )
    body = {"highlights": _clips(len(levels)), "output": QUICK_ENCODE}  # the sound is what is checked
    job = await wait_final(client, (await submit(client, name, **body))["id"], timeout=280)
    assert job["status"] == "completed", job["error"]
    result = job["result"]
    reel = Path(result["output_path"])

    loudness = measure_reel(reel, [15.0] * len(levels))
    assert all(abs(clip - -16.0) <= 0.5 for clip in loudness.clips), loudness
    assert loudness.spread <= 1.5, loudness
    assert abs(loudness.integrated - -16.0) <= 0.5, loudness
    assert true_peak_dbtp(reel_audio(reel)) <= -1.0

    # The source really spans 50 dB, and no ceiling held the quiet clip back.
    gains = [s["gain_db"] for s in result["segments"]]
    assert gains[0] > 38 and gains[-1] < -5, gains
    assert result["verification"]["passed"] is True
    assert not any(s["silent"] for s in result["segments"])


async def test_room_tone_clip_is_left_alone_and_reported_silent(
    client: httpx.AsyncClient, settings: Settings, sources: SourceCache
) -> None:
    name = sources.link(
        "room_tone.mp4", settings.media_root, lambda p: make_source(p, seconds=PASSAGE * 2, levels_lufs=(-65, -20))
    )
    job = await submit(client, name, highlights=_clips(2), output=QUICK_ENCODE)  # the sound is what is checked
    job = await wait_final(client, job["id"], timeout=200)
    assert job["status"] == "completed", job["error"]
    result = job["result"]
    quiet, speech = result["segments"]
    assert quiet["silent"] is True and quiet["gain_db"] == 0.0 and quiet["loudness"] is None
    assert speech["silent"] is False and abs(speech["loudness"] - -16.0) <= 0.5
    assert result["verification"]["silent_clips"] == [0]
    assert result["loudness_spread_lu"] == 0.0  # one audible clip: the room tone is outside the spread

    loudness = measure_reel(Path(result["output_path"]), [15.0, 15.0])
    assert loudness.clips[0] < -62, loudness  # untouched: still room tone, not raised by 49 dB
    assert abs(loudness.clips[1] - -16.0) <= 0.5, loudness


def _video_packets(path: Path) -> str:
    """One MD5 per video packet, as stored: equal lists mean the video was not re-encoded."""
    return subprocess.run(
        [find_binaries().ffmpeg, "-v", "error", "-i", str(path), "-map", "0:v", "-c", "copy", "-f", "framemd5", "-"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout


async def test_a_reel_that_misses_is_corrected_at_the_join_with_the_video_copied(
    settings: Settings, sources: SourceCache, tmp_path: Path
) -> None:
    binaries = find_binaries()
    name = sources.link(
        "two_levels.mp4", settings.media_root, lambda p: make_source(p, seconds=PASSAGE * 2, levels_lufs=(-30, -20))
    )
    info = await validate(await in_place(settings.media_root / name), binaries=binaries, max_seconds=3600)
    spec = JobSpec(input_path=name, highlights=[Highlight(**c) for c in _clips(2)])  # type: ignore[arg-type]
    plan = await analyze(info, spec, binaries=binaries, work_dir=tmp_path)
    # Force a miss: the plan believes the second clip is 6 LU louder than it is, so render under-gains it.
    wrong = plan.segments[1].model_copy(update={"loudness": plan.segments[1].loudness + 6})  # type: ignore[operator]
    plan = plan.model_copy(update={"segments": [plan.segments[0], wrong]})
    clips = [
        await render_segment(info, plan, s, spec.output, tmp_path / f"clip{s.index}.mov", binaries=binaries)
        for s in plan.segments
    ]
    reel = await join(clips, tmp_path / "reel.mp4", binaries=binaries, work_dir=tmp_path)
    shutil.copy(reel.path, tmp_path / "as_rendered.mp4")
    before = measure_reel(tmp_path / "as_rendered.mp4", [15.0, 15.0])
    assert before.clips[1] < -21, before  # the miss is real

    verified = await verify(reel, plan, binaries=binaries, has_audio=True, work_dir=tmp_path)

    report = verified.report
    assert report.passed and report.corrections >= 1
    after = measure_reel(Path(verified.reel.path), [15.0, 15.0])
    assert all(abs(c - -16.0) <= 0.5 for c in after.clips) and after.spread <= 1.5, after
    assert _video_packets(Path(verified.reel.path)) == _video_packets(tmp_path / "as_rendered.mp4")
    assert verified.reel.sha256 != reel.sha256


async def test_a_miss_that_cannot_be_corrected_fails_with_the_figures(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # Sparse clicks: loud enough to count as sound, too sparse to reach −16 LUFS under a −1 dBTP peak.
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=20",
        "-f", "lavfi", "-i", "aevalsrc=exprs='0.3*lt(mod(t\\,2)\\,0.001)':s=48000:d=20",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le", "-t", "20",
        str(settings.media_root / "clicks.mov"),
    )  # fmt: skip
    job = await wait_final(client, (await submit(client, "clicks.mov", output=QUICK_ENCODE))["id"], timeout=120)
    assert job["status"] == "failed", job["result"]
    error = job["error"]
    assert error["code"] == "quality_target_missed"
    assert "LUFS" in error["message"] and "corrections" in error["message"]
    figures = error["details"]
    assert figures["passed"] is False and figures["corrections"] == 2
    assert figures["checks"]["clips"] is False
    assert figures["clip_loudness"][0] < -16.5


async def test_highlights_all_past_the_end_fail_at_analyze_naming_the_duration(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    make_source(settings.media_root / "short.mp4", seconds=20)
    job = await submit(client, "short.mp4", highlights=[{"start_time": 40, "end_time": 60}])
    job = await wait_final(client, job["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "no_clips_in_source"
    assert "20.0 s" in job["error"]["message"]
    assert job["stage"] == "analyze"


_SERVER_PATH = re.compile(r"/\w[^\s]*/")


@pytest.mark.parametrize("content", ["empty", "random", "truncated"])
async def test_failed_jobs_never_show_a_server_path_or_raw_ffmpeg_output(
    client: httpx.AsyncClient, settings: Settings, content: str
) -> None:
    target = settings.media_root / f"{content}.mp4"
    if content == "empty":
        target.write_bytes(b"")
    elif content == "random":
        target.write_bytes(bytes(range(256)) * 400)
    else:
        whole = make_source(settings.media_root / "whole.mp4", seconds=8, container_args=["-movflags", "+faststart"])
        target.write_bytes(whole.read_bytes()[:40_000])
    job = await wait_final(client, (await submit(client, target.name))["id"])
    assert job["status"] == "failed"
    message = job["error"]["message"]
    assert not _SERVER_PATH.search(message), message
    assert str(settings.media_root) not in message and "exited with" not in message, message
    assert target.name in message  # the client's own name for the file is what helps them


async def test_an_input_path_too_long_for_any_filesystem_is_a_422(client: httpx.AsyncClient) -> None:
    for path in ("a" * 6000, "b" * 300 + ".mp4"):
        response = await client.post("/jobs", json={"input_path": path})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest",
    ],
)
async def test_private_webhook_url_is_refused_at_submit(settings: Settings, url: str) -> None:
    strict = settings.model_copy(update={"webhook_allow_private": False})
    (settings.media_root / "talk.mp4").write_bytes(b"not read at submit")
    async with running_service(strict, run_worker=False) as api:
        response = await api.post("/jobs", json={"input_path": "talk.mp4", "webhook_url": url})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_webhook_url"
    assert "private" in response.json()["detail"] or "loopback" in response.json()["detail"]


def _sample(metrics: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name + "{"))


async def test_error_and_cost_series_exist_from_the_first_job_and_bad_input_counts_apart(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    make_source(settings.media_root / "ok.mp4", seconds=6)
    job = await wait_final(client, (await submit(client, "ok.mp4"))["id"])
    assert job["status"] == "completed", job["error"]
    text = (await client.get("/metrics")).text
    assert re.search(r'^video_processing_errors_total\{error_type="\w+",stage="render"\} ', text, re.M), text
    # The series exists from the first scrape; earlier AI tests in this process may have moved it past 0.
    assert re.search(r'^video_processing_cost_usd_total\{api_name="openai"\} [0-9.e+-]+$', text, re.M)
    errors_before = _sample(text, "video_processing_errors_total")
    rejected_before = _sample(text, "video_processing_rejected_inputs_total")

    (settings.media_root / "junk.mp4").write_bytes(b"\x00" * 5000)
    job = await wait_final(client, (await submit(client, "junk.mp4"))["id"])
    assert job["status"] == "failed"
    text = (await client.get("/metrics")).text
    assert _sample(text, "video_processing_errors_total") == errors_before
    assert _sample(text, "video_processing_rejected_inputs_total") == rejected_before + 1
