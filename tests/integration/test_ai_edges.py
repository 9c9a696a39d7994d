"""An automatic clip's edges move to where the transcript says sentences end, through the API.

The source is talk whose every word is known; the fake provider hears it for real (it finds each range it
is sent in the talk) and puts full stops where the test says: never where the talk pauses, so edges the
picker put in pauses can only come out at a sentence end if the transcript's words moved them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from tests.conftest import Infra, running_service
from tests.support.ai_talk import ai_settings
from tests.support.cache import SourceCache
from tests.support.jobs import submit, wait_final
from tests.support.openai_server import FakeOpenAI, serve
from tests.support.spoken import Span, TalkEar, spoken, talk_source

SECONDS = 75.0
FRAME = 1 / 25
PAUSE = 0.2  # the talk's gaps are 40–90 ms between words and 0.4–0.9 s between its own sentences
OUTPUT: dict[str, Any] = {"max_duration": 20, "preset": "ultrafast"}  # one clip of 15–20 s, from candidates 20 s long


def full_stops(words: list[Span]) -> set[int]:
    """Words the transcript ends a sentence with: all but the first and the last two of each of the talk's own.

    So no sentence end is at a pause, nor at the gap between words nearest one: the picker puts a candidate's
    edges in pauses, and an edge that comes out after one of these words was moved there by the transcript.
    """
    gaps = [b[0] - a[1] for a, b in zip(words, words[1:], strict=False)] + [PAUSE]
    said: list[list[int]] = [[]]
    for k, gap in enumerate(gaps):
        said[-1].append(k)
        if gap >= PAUSE:
            said.append([])
    return {k for sentence in said for k in sentence[1:-2]}


def edges(job: dict[str, Any]) -> tuple[float, float]:
    """The one clip's (start, end), after checking the job used the AI's choice and kept the clip rules."""
    assert job["status"] == "completed", job["error"]
    assert job["result"]["ai"]["used"] is True, job["result"]["ai"]
    [segment] = job["result"]["segments"]
    assert "edge_in_speech" not in segment["reasons"], segment
    assert 15 - FRAME <= segment["end"] - segment["start"] <= OUTPUT["max_duration"] + FRAME, segment
    return segment["start"], segment["end"]


def after(edge: float, words: list[Span]) -> int | None:
    """The word whose end the edge follows before the next word starts (within a frame either way), if any."""
    for k, ((_, end), (following, _)) in enumerate(zip(words, words[1:], strict=False)):
        if end - FRAME <= edge <= following + FRAME:
            return k
    return None


def in_pause(t: float, words: list[Span]) -> bool:
    return any(a[1] <= t <= b[0] and b[0] - a[1] >= PAUSE for a, b in zip(words, words[1:], strict=False))


def agreeing(candidates: list[dict[str, Any]], keep: int) -> list[int]:
    """A model that prefers what the offline picker does (its first candidate lies well inside the talk)."""
    return [c["id"] for c in candidates[:keep]]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    yield from serve(FakeOpenAI(hearing=lambda _level: "", choosing=agreeing))


async def run(settings: Settings, fake: FakeOpenAI, ear: TalkEar, name: str) -> dict[str, Any]:
    """One automatic job on a service of its own (its own transcription model: nothing heard before is reused)."""
    fake.listening = ear
    async with running_service(settings) as client:
        return await wait_final(client, (await submit(client, name, output=OUTPUT))["id"], timeout=180)


async def test_automatic_edges_move_from_pauses_to_the_transcripts_sentence_ends_else_stay_in_their_pauses(
    infra: Infra, tmp_path: Path, fake: FakeOpenAI, sources: SourceCache
) -> None:
    talk = spoken(SECONDS, seed=3)
    words, stops = talk.words, full_stops(talk.words)
    assert all(words[k + 1][0] - words[k][1] < 0.1 for k in stops)  # no sentence end of the transcript is a pause
    settings = ai_settings(infra, tmp_path / "sentences", fake)
    name = sources.link("spoken_talk.mp4", settings.media_root, lambda p: talk_source(p, talk))

    ear = TalkEar(talk, lambda k, _heard: k in stops)
    start, end = edges(await run(settings, fake, ear, name))
    assert fake.word_timings == len(ear.heard) >= 2  # every candidate heard, with word timestamps
    window = ear.heard[0]  # the candidate chosen, as the provider heard it: the picker put its edges in pauses
    assert in_pause(window[0], words) and in_pause(window[1], words), window
    # The clip opens just after a sentence of the transcript ends, and closes just after one does.
    assert after(start, words) in stops and window[0] < start <= window[0] + 3, (start, window)
    assert after(end, words) in stops and window[1] - 3 <= end < window[1], (end, window)

    # A transcript whose sentences end only in the middle of each range heard: none is in reach of an edge
    # (3 s at most), so each edge stays in the pause the picker found (a real pause beats a gap between words).
    middle = TalkEar(talk, lambda k, heard: k in stops and heard[0] + 5 < words[k][1] < heard[1] - 5)
    other = ai_settings(infra, tmp_path / "gaps", fake)
    sources.link(name, other.media_root, lambda p: talk_source(p, talk))
    kept = edges(await run(other, fake, middle, name))
    assert middle.heard == ear.heard  # the same candidates, heard the same
    for edge, picked in zip(kept, window, strict=True):
        assert abs(edge - picked) <= FRAME and in_pause(edge, words), (edge, window)
