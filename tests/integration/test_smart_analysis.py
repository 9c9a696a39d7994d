"""Smart analysis through the API: clips picked from speech and motion with clean edges, and a camera on the subject.

Sources are generated with known ground truth (where each sentence is, where each cut is, where the
face is), and every claim is checked against that truth, not against what our analysers report.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.config import Settings
from app.domain.crop import CropKey, path_at
from app.media.ffmpeg import find_binaries
from tests.support.cache import SourceCache
from tests.support.jobs import QUICK_ENCODE, submit, wait_final
from tests.support.meter import video_stream
from tests.support.scenes import Scene, face_box, face_source, scene_sentences, scenes_source
from tests.support.spoken import spoken, talk_source

TALK = [
    Scene(30, "color=c=gray", speech=False),
    Scene(32, "testsrc2", speech=True),
    Scene(33, "color=c=0x203060", speech=False),
    Scene(32, "testsrc", speech=True),
    Scene(23, "color=c=0x602020", speech=False),
]
CUTS = (30.0, 62.0, 95.0, 127.0)
LIVELY = ((30.0, 62.0), (95.0, 127.0))


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def talk_in(settings: Settings, sources: SourceCache) -> tuple[str, list[tuple[float, float]]]:
    """TALK under the media root (made once per run): its input path, and the spans of its sentences."""
    name = sources.link("scenes_talk.mp4", settings.media_root, lambda p: scenes_source(p, TALK))
    return name, scene_sentences(TALK)


async def test_automatic_clips_take_speech_and_motion_and_never_cut_a_word_or_a_shot(
    client: httpx.AsyncClient, settings: Settings, sources: SourceCache
) -> None:
    talk, sentences = talk_in(settings, sources)
    job = await wait_final(client, (await submit(client, talk, output=QUICK_ENCODE))["id"], timeout=280)
    assert job["status"] == "completed", job["error"]
    segments = job["result"]["segments"]
    assert 1 <= len(segments) <= 5
    for s in segments:
        start, end = s["start"], s["end"]
        assert 15 <= end - start <= 60, s
        lively = sum(_overlap((start, end), span) for span in LIVELY)
        assert lively >= 0.7 * (end - start), f"{s} is mostly silence and a still frame"
        assert {"speech", "motion"} & set(s["reasons"]), s
        for edge in (start, end):
            assert all(abs(edge - cut) >= 0.5 for cut in CUTS), f"edge {edge} is within 0.5 s of a cut"
            spoken = [span for span in sentences if span[0] + 0.05 < edge < span[1] - 0.05]
            assert not spoken, f"edge {edge} cuts the sentence {spoken}"
    assert job["result"]["auto_selected"] is True


def _source_frame(path: Path, at: float, width: int, height: int) -> np.ndarray:
    raw = subprocess.run(
        [find_binaries().ffmpeg, "-v", "error", "-ss", f"{at:.3f}", "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8)[: width * height].reshape(height, width)


def _keys(segment: dict[str, Any]) -> list[CropKey]:
    return [CropKey(t=k["t"], x=k["x"], y=k["y"]) for k in segment["crop_path"]]


DRIFT_SECONDS = 20.0


def _drifting(t: float) -> tuple[float, float]:
    return 4.0 * t, 20.0  # the photograph's corner: 80 px to the right over 20 s, the face left of centre


async def test_vertical_reel_keeps_a_drifting_face_in_frame_with_a_steady_camera(
    client: httpx.AsyncClient, settings: Settings, sources: SourceCache
) -> None:
    name = sources.link(
        "drift.mp4", settings.media_root, lambda p: face_source(p, seconds=DRIFT_SECONDS, corner=_drifting)
    )
    highlights = [{"start_time": 1.0, "end_time": 19.0}]
    job = await submit(client, name, highlights=highlights, output={"aspect_ratio": "9:16"})
    job = await wait_final(client, job["id"], timeout=200)
    assert job["status"] == "completed", job["error"]
    [segment] = job["result"]["segments"]
    keys = _keys(segment)
    w, h = segment["crop_path"][0]["w"], segment["crop_path"][0]["h"]
    assert (w, h) == (202, 360)

    times = np.arange(segment["start"], segment["end"], 0.2)
    inside = 0
    centre_inside = 0
    for t in times:
        fx, fy, fw, fh = face_box(320, *_drifting(t))
        x, _ = path_at(keys, t)
        inside += x <= fx and fx + fw <= x + w
        centre_x = (640 - w) / 2
        centre_inside += centre_x <= fx and fx + fw <= centre_x + w
    assert inside >= 0.95 * len(times), f"face in the crop in {inside}/{len(times)} samples"
    assert centre_inside <= 0.2 * len(times)  # a centre crop would have missed it: the test can tell

    # The camera: at most 0.5 crop-widths/s, and its velocity changes sign at most once a second.
    xs = np.array([path_at(keys, t)[0] for t in times])
    speed = np.abs(np.diff(xs)) / 0.2
    assert speed.max() <= 0.5 * w + 1e-6, speed.max()
    steps = np.diff(xs)
    moving = np.abs(steps) > 1e-6
    signs, when = np.sign(steps[moving]), times[1:][moving]
    reversals = when[1:][signs[1:] != signs[:-1]]
    assert np.all(np.diff(reversals) >= 1.0 - 0.2), reversals  # never two within a second (0.2 s sampling)

    # The reel shows what the path says: its frame matches the source cropped at the path's window.
    reel = Path(job["result"]["output_path"])
    for offset in (2.0, 9.0, 16.0):
        at = segment["start"] + offset
        x, _ = path_at(keys, at)
        left = round(x) // 2 * 2  # crop rounds, then lands on the 4:2:0 chroma grid
        expected = _source_frame(settings.media_root / name, at, 640, 360)[:, left : left + w]
        shown = _source_frame(reel, offset, w, h)
        assert np.abs(shown.astype(int) - expected.astype(int)).mean() < 3.0, offset


def _two_sides(t: float) -> tuple[float, float]:
    return (0.0, 20.0) if t < 10.0 else (320.0, 20.0)


async def test_the_crop_jumps_at_the_cut_not_before_or_after(
    client: httpx.AsyncClient, settings: Settings, sources: SourceCache
) -> None:
    name = sources.link("sides.mp4", settings.media_root, lambda p: face_source(p, seconds=20, corner=_two_sides))
    highlights, output = [{"start_time": 2, "end_time": 18}], {"aspect_ratio": "9:16", **QUICK_ENCODE}  # the path
    job = await submit(client, name, highlights=highlights, output=output)
    job = await wait_final(client, job["id"], timeout=200)
    assert job["status"] == "completed", job["error"]
    [segment] = job["result"]["segments"]
    keys = _keys(segment)
    before, after = path_at(keys, 9.9)[0], path_at(keys, 10.05)[0]
    left_face, right_face = face_box(320, *_two_sides(5)), face_box(320, *_two_sides(15))
    assert before <= left_face[0] and left_face[0] + left_face[2] <= before + 202
    assert after <= right_face[0] and right_face[0] + right_face[2] <= after + 202
    # Steady within each shot: the only move is the jump at 10 s (within one frame).
    xs = [path_at(keys, t)[0] for t in np.arange(2.0, 18.0, 0.04)]
    moves = [t for t, a, b in zip(np.arange(2.0, 18.0, 0.04), xs, xs[1:], strict=False) if abs(b - a) > 1]
    assert moves and all(abs(t - 10.0) <= 0.08 for t in moves), moves


async def test_letterboxed_source_comes_out_without_black_rows(client: httpx.AsyncClient, settings: Settings) -> None:
    face_source(settings.media_root / "bars.mp4", seconds=16, corner=lambda t: (200.0, 20.0), letterbox=44)
    job = await submit(client, "bars.mp4", output={"aspect_ratio": "1:1", **QUICK_ENCODE})
    job = await wait_final(client, job["id"], timeout=200)
    assert job["status"] == "completed", job["error"]
    v = job["result"]["verification"]
    frame = _source_frame(Path(job["result"]["output_path"]), 5.0, v["width"], v["height"])
    assert v["height"] <= 360 - 2 * 44
    assert frame[:2].mean() > 30 and frame[-2:].mean() > 30, (frame[:2].mean(), frame[-2:].mean())


async def test_no_face_and_no_audio_still_complete_with_a_crop_on_the_motion_and_a_picker_on_what_is_there(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    scenes = [Scene(20, "color=c=gray", speech=False), Scene(20, "testsrc2", speech=False)]
    scenes_source(settings.media_root / "silent.mp4", scenes, size="640x360", audio=False)
    # A 15 s budget (one clip at its shortest) at ultrafast keeps the upscaled 720x1280 render short; the choice it
    # tests is the same.
    output = {"aspect_ratio": "9:16", "resolution": "720p", "max_duration": 15, **QUICK_ENCODE}
    job = await wait_final(client, (await submit(client, "silent.mp4", output=output))["id"])
    assert job["status"] == "completed", job["error"]
    stream = video_stream(Path(job["result"]["output_path"]))
    assert (stream["width"], stream["height"]) == (720, 1280)  # the platform size, square pixels
    assert stream.get("sample_aspect_ratio", "1:1") == "1:1"
    [segment] = job["result"]["segments"]
    assert segment["start"] >= 19.0  # the moving half, not the still frame
    assert not {"speech", "loudness"} & set(segment["reasons"]), segment["reasons"]
    # No face: the crop follows what moves (testsrc2's moving parts), or holds the centre when nothing does.
    path = segment["crop_path"]
    assert {k["track"] for k in path} == {None}
    assert {k["why"] for k in path} <= {"motion", "centre"}, path
    assert all(0 <= k["x"] <= 640 - 202 for k in path)


async def test_snap_edges_moves_client_edges_into_pauses_and_exact_edges_stay_by_default(
    client: httpx.AsyncClient, settings: Settings, sources: SourceCache
) -> None:
    talk, sentences = talk_in(settings, sources)
    mid_sentence = [{"start_time": 35.0, "end_time": 53.5}]
    assert any(a < 35.0 < b for a, b in sentences) and any(a < 53.5 < b for a, b in sentences)
    snapped = await submit(client, talk, highlights=mid_sentence, output={"snap_edges": True, **QUICK_ENCODE})
    exact = await submit(client, talk, highlights=mid_sentence, output=QUICK_ENCODE)
    snapped, exact = await wait_final(client, snapped["id"]), await wait_final(client, exact["id"])
    assert snapped["status"] == exact["status"] == "completed"
    [s] = snapped["result"]["segments"]
    for edge, asked in ((s["start"], 35.0), (s["end"], 53.5)):
        assert abs(edge - asked) <= 1.5 + 0.04, (edge, asked)
        assert not [span for span in sentences if span[0] + 0.05 < edge < span[1] - 0.05], edge
    [e] = exact["result"]["segments"]
    assert e["reasons"] == ["client"]
    assert abs(e["start"] - 35.0) <= 0.04 and abs(e["end"] - 53.5) <= 0.04  # exact, to the frame grid


async def test_a_short_source_longer_than_max_duration_gives_one_clip_within_it(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    talk_source(settings.media_root / "short.mp4", spoken(48.0, seed=4))  # under a minute, over max_duration
    output = {"max_duration": 20, "preset": "ultrafast"}
    job = await wait_final(client, (await submit(client, "short.mp4", output=output))["id"])
    assert job["status"] == "completed", job["error"]
    [segment] = job["result"]["segments"]
    assert 15.0 <= segment["end"] - segment["start"] <= 20.0 + 1 / 25, segment
    assert segment["start"] >= 0 and segment["end"] <= 48.0, segment
    reel = video_stream(Path(job["result"]["output_path"]))
    assert 15.0 <= reel["format_duration"] <= 20.0 + 1 / 25, reel["format_duration"]
    assert float(reel["duration"]) <= 20.0 + 1 / 25, reel["duration"]
