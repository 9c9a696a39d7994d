"""The active speaker framed, through the API: a generated two-person conversation with known turns.

Two people sit in one wide shot with faces about 10 % of the frame's height; each mouth moves with
its own voice only. The reel's crop path is checked against the generator's ground truth (who
speaks when, where each face is), not against what our analysers report.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.analysis.features import SourceAnalyser, SourceFeatures
from app.analysis.reframe import reframe
from app.config import Settings
from app.domain.crop import CropKey, path_at
from app.media.decode import decode
from app.media.ffmpeg import find_binaries
from app.media.probe import probe
from tests.conftest import Infra, make_settings, running_service
from tests.support.conversation import Conversation, conversation_source
from tests.support.database import migrated_store, own_database
from tests.support.jobs import QUICK_ENCODE, submit, wait_final
from tests.support.media import make_source
from tests.support.meter import video_stream

pytestmark = pytest.mark.xdist_group("speaker_framing")  # its tests share one conversation

SECONDS = 24.0  # four turns, three changes of speaker (seed 5)
# The analysis looks for faces on pictures at most 960 px wide: a larger conversation costs more to draw, encode and
# decode and shows the detector nothing more. 1080p is its own case below.
FRAME = (960, 540)
FAST = {"resolution": "720p", "preset": "ultrafast"}


def _window(segment_path: list[dict[str, Any]]) -> Any:
    keys = [CropKey(t=k["t"], x=k["x"], y=k["y"]) for k in segment_path]
    w, h = segment_path[0]["w"], segment_path[0]["h"]

    def at(t: float) -> tuple[float, float, float, float]:
        x, y = path_at(keys, t)
        return x, y, w, h

    return at


@pytest.fixture(scope="module")
def conversation_made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Conversation]:
    """Made once for the module's tests (some 2 s of drawing and encoding)."""
    path = tmp_path_factory.mktemp("conversation") / "conversation.mp4"
    return path, conversation_source(path, seconds=SECONDS, frame=FRAME, seed=5)


@dataclass(frozen=True)
class Talk:
    """A running service, the conversation's ground truth, and its vertical reel (whose analysis others reuse)."""

    client: httpx.AsyncClient
    truth: Conversation
    vertical: dict[str, Any]


@pytest.fixture(scope="module")
async def talk(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory, conversation_made: tuple[Path, Conversation]
) -> AsyncIterator[Talk]:
    path, truth = conversation_made
    # A queue of its own: this service lives beside the services of the module's other tests, and must not run
    # their jobs (nor they its).
    async with own_database(infra, "framing") as database:
        settings = make_settings(infra, tmp_path_factory.mktemp("framing"), postgres_db=database)
        os.link(path, settings.media_root / path.name)
        async with migrated_store(settings), running_service(settings) as client:
            output = {"aspect_ratio": "9:16", **QUICK_ENCODE}  # at the source's height: no upscale to encode
            body = {"highlights": [{"start_time": 0.0, "end_time": SECONDS}], "output": output}
            vertical = await wait_final(client, (await submit(client, path.name, **body))["id"], timeout=240)
            yield Talk(client, truth, vertical)


async def test_vertical_reel_frames_whoever_speaks_and_cuts_to_the_next_speaker(talk: Talk) -> None:
    job, truth = talk.vertical, talk.truth
    assert job["status"] == "completed", job["error"]
    [segment] = job["result"]["segments"]
    path = segment["crop_path"]
    share = truth.framed_share(_window(path))
    assert share >= 0.9, f"the speaker alone in the crop for {share:.0%} of speech time"
    assert {k["why"] for k in path} == {"speaker"}
    assert len({k["track"] for k in path}) == 2
    moves = [(a, b) for a, b in zip(path, path[1:], strict=False) if a["x"] != b["x"]]
    assert moves and all(a["t"] == b["t"] for a, b in moves), "a change of speaker is a cut, never a pan"
    # The Studio's analysis names the same face for each window, among the tracks it draws.
    analysis = (await talk.client.get(f"/jobs/{job['id']}/analysis")).json()
    [shown] = analysis["clips"]
    assert shown["crop_tracks"] == [k["track"] for k in path]
    assert set(shown["crop_tracks"]) <= {face["track"] for face in analysis["faces"]}


async def test_split_layout_stacks_both_speakers_each_half_on_its_own_face(talk: Talk) -> None:
    # Based on the vertical job: the same source and analysis, reused rather than decoded again.
    output = {"aspect_ratio": "9:16", "layout": "split", **FAST}
    body = {"based_on": talk.vertical["id"], "highlights": [{"start_time": 0.0, "end_time": SECONDS}], "output": output}
    job = await wait_final(talk.client, (await submit(talk.client, None, **body))["id"], timeout=240)
    assert job["status"] == "completed", job["error"]
    [segment] = job["result"]["segments"]
    assert segment["layout"] == "split"
    top, bottom = segment["crop_paths"]
    assert segment["crop_path"] == top
    kept = sorted(
        (talk.truth.kept_share(_window(half), speaker), speaker, i)
        for i, half in enumerate((top, bottom))
        for speaker in (0, 1)
    )
    best = {i: max((k for k in kept if k[2] == i), key=lambda k: k[0]) for i in (0, 1)}
    assert {best[0][1], best[1][1]} == {0, 1}, "each half on a different person"
    assert min(best[0][0], best[1][0]) >= 0.95, best
    # One encode of the stacked picture, at the standard vertical size.
    reel = Path(job["result"]["output_path"])
    stream = video_stream(reel)
    assert (stream["width"], stream["height"]) == (720, 1280)
    assert job["result"]["segments"][0]["render_mode"] == "encode"
    assert np.isfinite(job["result"]["audio_loudness"])


async def test_split_is_refused_unless_the_reel_is_vertical(client: httpx.AsyncClient) -> None:
    response = await client.post("/jobs", json={"input_path": "x.mp4", "output": {"layout": "split"}})
    assert response.status_code == 422
    assert "9:16" in response.text


async def test_anamorphic_source_is_framed_in_display_pixels(client: httpx.AsyncClient, settings: Settings) -> None:
    # PAL widescreen-ish: 720x576 stored, pixels 16:15 wide, so it shows as 768x576.
    pal = settings.media_root / "pal.mp4"
    make_source(pal, seconds=16, size="720x576", video_args=["-vf", "setsar=16/15"], levels_lufs=None)
    body = {"highlights": [{"start_time": 0.0, "end_time": 16.0}], "output": {"aspect_ratio": "1:1", **QUICK_ENCODE}}
    job = await wait_final(client, (await submit(client, "pal.mp4", **body))["id"], timeout=200)
    assert job["status"] == "completed", job["error"]
    window = job["result"]["segments"][0]["crop_path"][0]
    assert abs(window["w"] * 16 / 15 - window["h"]) <= 2, window  # square as shown, not as stored
    stream = video_stream(Path(job["result"]["output_path"]))
    width, height, sar = stream["width"], stream["height"], stream.get("sample_aspect_ratio", "1:1")
    assert abs(width - height) <= 2 and sar in {"1:1", "0:1"}, (width, height, sar)


async def _features(path: Path) -> SourceFeatures:
    """The analysis pass as the analyze stage runs it: one decode, every stream, every analyser."""
    binaries = find_binaries()
    info = await probe(binaries.ffprobe, path)
    analyser = SourceAnalyser()
    await decode(
        binaries.ffmpeg, path, info, path.parent,
        on_frame=analyser.add_frame, on_picture=analyser.add_picture,
        on_audio=lambda t, pcm: analyser.add_audio(pcm, t), on_channels=lambda t, pcm: analyser.add_channels(pcm, t),
    )  # fmt: skip
    return analyser.result()


TURNS = 16.0


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("music under the voices, 8 dB down", {"music_db": -8.0, "frame": FRAME}),
        ("one microphone per person, stereo", {"stereo": "panned", "frame": FRAME}),
        ("mono, faces 7 % of the height, 1080p", {"stereo": "mono", "face_height": 0.07, "frame": (1920, 1080)}),
    ],
)
async def test_the_speaker_is_framed_under_music_on_mono_and_with_small_faces(
    tmp_path: Path, case: str, options: dict[str, Any]
) -> None:
    source = tmp_path / "talk.mp4"
    # Three turns, two changes of speaker (seed 11): each case needs only both people heard and seen.
    truth = conversation_source(source, seconds=TURNS, seed=11, **options)
    features = await _features(source)
    assert len(features.face_tracks) == 2, case
    path = reframe(features, 0.0, TURNS, aspect="9:16", source_size=truth.frame)
    share = truth.framed_share(lambda t: path.at(t))
    assert share >= 0.9, f"{case}: the speaker alone in the crop for {share:.0%} of speech time"
