"""kill -9 of a worker between the transcriptions and the ranking: the resumed job does not pay twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from tests.conftest import Infra, running_service
from tests.support.ai_talk import OUTPUT, QUIET, ai_settings, clips, hearing, ledger_of, talk_source, within
from tests.support.cache import SourceCache
from tests.support.jobs import submit, wait_final
from tests.support.openai_server import CHAT, TRANSCRIBE, FakeOpenAI, Fault, keyword_ranker, serve
from tests.support.processes import Process, env_for

pytestmark = pytest.mark.xdist_group("workers")


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    yield from serve(FakeOpenAI(hearing=hearing, choosing=keyword_ranker("secret")))


@pytest.fixture
def talk(settings: Settings, sources: SourceCache) -> str:
    return talk_source(sources, settings.media_root)


@pytest.fixture
def settings(infra: Infra, tmp_path: Path, fake: FakeOpenAI) -> Settings:
    # The ranking call may take its time (the test kills the worker while it waits); leases lapse quickly.
    return ai_settings(infra, tmp_path, fake, ai_timeout_seconds=30.0, lease_seconds=3.0, poll_interval_seconds=0.3)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API alone: jobs are run only by the worker processes the test starts."""
    async with running_service(settings, run_worker=False) as client:
        yield client


@pytest.fixture
def workers() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for w in started:
        w.kill_group()


def worker(settings: Settings, workers: list[Process], name: str) -> Process:
    process = Process("worker", env_for(settings), settings.data_dir / f"{name}.log").start()
    workers.append(process)
    return process


async def test_kill_9_between_transcription_and_ranking_pays_for_no_transcript_twice(
    settings: Settings, api: httpx.AsyncClient, fake: FakeOpenAI, talk: str, workers: list[Process]
) -> None:
    fake.script(CHAT, Fault(delay=60.0))  # the first ranking call hangs: the worker dies waiting for it
    job = await submit(api, talk, output=OUTPUT)
    first = worker(settings, workers, "first")
    assert await asyncio.to_thread(fake.chat_started.wait, 60), first.tail()
    first.kill_group()
    heard = fake.answered[TRANSCRIBE]
    assert heard >= 2

    worker(settings, workers, "second")
    done = await wait_final(api, job["id"], timeout=120)
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2
    ai = done["result"]["ai"]
    assert ai["used"] is True and ai["transcribed"] == 0 and ai["cached"] == heard, ai
    assert fake.answered[TRANSCRIBE] == heard and fake.calls[CHAT] == 2
    assert within(clips(done)[0], QUIET)

    entries, spent = await ledger_of(settings, job["id"])
    assert [e.operation for e in entries] == ["transcribe"] * heard + ["rank", "rank"]
    cut_off, answered = entries[-2:]
    # The call cut off by the kill may have been billed: it counts at its reservation, and the budget knows it.
    assert cut_off.cost_usd is None and answered.cost_usd is not None
    assert done["result"]["cost_usd"] == ai["spent_usd"] == spent == round(sum(e.counted_usd for e in entries), 6)
