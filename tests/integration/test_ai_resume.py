"""kill -9 of a worker between the transcriptions and the ranking: the resumed job does not pay twice, and the
call cut off by the kill reaches the cost metric."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.ops.embedded import free_port
from tests.conftest import Infra, running_service
from tests.support.ai_talk import (
    OUTPUT,
    QUIET,
    ai_settings,
    clips,
    cost_counted,
    hearing,
    ledger_of,
    talk_source,
    within,
)
from tests.support.cache import SourceCache
from tests.support.jobs import submit, wait_final
from tests.support.openai_server import CHAT, TRANSCRIBE, FakeOpenAI, Fault, keyword_ranker, serve
from tests.support.processes import Process, env_for


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


def worker(settings: Settings, workers: list[Process], name: str, **env: str) -> Process:
    process = Process("worker", env_for(settings, **env), settings.data_dir / f"{name}.log").start()
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

    metrics_port = free_port()
    second = worker(settings, workers, "second", PROMETHEUS_PORT=str(metrics_port))
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
    assert answered.cost_usd is not None and cut_off.cost_usd in (None, cut_off.reserved_usd)
    assert done["result"]["cost_usd"] == ai["spent_usd"] == spent == round(sum(e.counted_usd for e in entries), 6)
    # Nothing will settle it: once the job stopped running, the second worker's housekeeping closes it at its
    # reservation and counts it, beside the call it paid for itself (the first worker's counts died with it).
    expected = round(cut_off.reserved_usd + answered.cost_usd, 6)
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{metrics_port}", timeout=5) as scrape:
        while (counted := cost_counted((await scrape.get("/metrics")).text)) != pytest.approx(expected, abs=1e-6):
            assert time.monotonic() < deadline, (counted, expected, second.tail())
            await asyncio.sleep(0.1)
    [closed] = [e for e in (await ledger_of(settings, job["id"]))[0] if e.id == cut_off.id]
    assert closed.cost_usd == cut_off.reserved_usd and closed.units["outcome"] == "abandoned"
