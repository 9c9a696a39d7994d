"""AI ranking through the API, against a local server that speaks the OpenAI protocol (never a patched function).

The source has loud and quiet passages; the fake provider "hears" the quiet ones say the secret, and its ranker
reads transcripts, so a reel chosen by AI differs from the offline picker's in a way the test can check.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.db import create_pool
from app.db.ledger import PgLedger
from tests.conftest import Infra, running_service
from tests.support.ai_talk import (
    AI_TIMEOUT,
    LOUD,
    QUIET,
    SECONDS,
    ai_settings,
    clips,
    cost_counted,
    hearing,
    ledger_of,
    run_job,
    talk_source,
    within,
)
from tests.support.cache import SourceCache
from tests.support.openai_server import CHAT, TRANSCRIBE, FakeOpenAI, Fault, keyword_ranker, serve


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    yield from serve(FakeOpenAI(hearing=hearing, choosing=keyword_ranker("secret")))


@pytest.fixture
def settings(infra: Infra, tmp_path: Path, fake: FakeOpenAI) -> Settings:
    return ai_settings(infra, tmp_path, fake)


@pytest.fixture
def talk(settings: Settings, sources: SourceCache) -> str:
    return talk_source(sources, settings.media_root)


@pytest.fixture
async def ledger(settings: Settings) -> AsyncIterator[PgLedger]:
    pool = await create_pool(settings.postgres_dsn, max_size=2)
    yield PgLedger(pool)
    await pool.close()


async def test_ranking_follows_what_is_said_keeps_the_edge_rules_and_pays_for_each_transcript_once(
    client: httpx.AsyncClient, fake: FakeOpenAI, talk: str, ledger: PgLedger
) -> None:
    fake.down = True  # answers 503 to everything: the offline picker decides, and says why
    offline = await run_job(client, talk)
    assert offline["result"]["ai"]["used"] is False and offline["result"]["ai"]["reason"] == "unavailable"
    assert offline["result"]["cost_usd"] == 0 and offline["result"]["captions_url"] is None
    [offline_clip] = clips(offline)
    assert within(offline_clip, LOUD), offline_clip  # the picker likes the loud passages
    missing = await client.get(f"/jobs/{offline['id']}/captions")
    assert missing.status_code == 404 and missing.json()["code"] == "captions_not_found"

    fake.down = False
    ranked = await run_job(client, talk)
    ai = ranked["result"]["ai"]
    assert ai["used"] is True and ai["reason"] is None, ai
    [ranked_clip] = clips(ranked)
    assert within(ranked_clip, QUIET), ranked_clip  # where the secret is said
    segment = ranked["result"]["segments"][0]
    assert segment["reasons"][0] == "ai" and segment["title"].startswith("Clip ")
    # Only the candidate windows were heard, each a clip's length, never the whole source.
    assert fake.answered[TRANSCRIBE] == ai["transcribed"] == ai["candidates"] >= 2
    assert fake.word_timings == ai["transcribed"]  # word timestamps asked for, for edges at sentence ends
    assert all(15 <= s <= 60 for s in fake.heard_seconds) and sum(fake.heard_seconds) < SECONDS
    entries = await ledger.entries(ranked["id"])
    assert [e.operation for e in entries] == ["transcribe"] * ai["transcribed"] + ["rank"]
    assert all(e.cost_usd is not None and e.cost_usd <= e.reserved_usd for e in entries)
    assert ranked["result"]["cost_usd"] == ai["spent_usd"] == await ledger.spent(ranked["id"]) > 0

    captions = await client.get(f"/jobs/{ranked['id']}/captions")
    assert captions.status_code == 200 and captions.headers["content-type"].startswith("text/vtt")
    lines = captions.text.splitlines()
    assert lines[0] == "WEBVTT" and "Here is the secret everyone came for." in lines
    assert lines[3] == "00:00:00.000 --> 00:00:07.500"  # the clip opens the reel; the fake's 2 lines share 15 s
    assert ranked["result"]["captions_url"].endswith(f"/jobs/{ranked['id']}/captions")

    again = await run_job(client, talk)  # same source, same model: the cache answers, the provider is not asked
    assert fake.answered[TRANSCRIBE] == ai["transcribed"] and fake.answered[CHAT] == 2
    assert again["result"]["ai"]["transcribed"] == 0 and again["result"]["ai"]["cached"] == ai["candidates"]
    assert clips(again) == [ranked_clip]
    assert again["result"]["cost_usd"] < ranked["result"]["cost_usd"]  # the ranking call alone

    # Captions go with the reel.
    assert (await client.delete(f"/jobs/{ranked['id']}/output")).status_code == 204
    assert (await client.get(f"/jobs/{ranked['id']}/captions")).status_code == 410


async def test_a_slow_a_rate_limited_and_a_garbled_provider_never_fail_a_job(
    client: httpx.AsyncClient, fake: FakeOpenAI, talk: str, ledger: PgLedger
) -> None:
    late = Fault(delay=AI_TIMEOUT + 1.5)
    fake.script(CHAT, late, late)  # past the timeout, on the try and the retry
    slow = await run_job(client, talk)
    assert slow["result"]["ai"]["used"] is False and slow["result"]["ai"]["reason"] == "timeout"
    [*heard, rank] = await ledger.entries(slow["id"])
    assert rank.operation == "rank" and rank.cost_usd == rank.reserved_usd  # it may have been billed: counted
    assert slow["result"]["cost_usd"] == await ledger.spent(slow["id"])
    transcribed = fake.answered[TRANSCRIBE]

    fake.script(CHAT, Fault(status=429, retry_after="0"))  # the client's own retry gets the 200
    retried = await run_job(client, talk)
    assert retried["result"]["ai"]["used"] is True and retried["result"]["ai"]["reason"] is None
    assert within(clips(retried)[0], QUIET)

    fake.script(CHAT, Fault(garbage=True))
    garbled = await run_job(client, talk)
    assert garbled["result"]["ai"] | {"spent_usd": 0} == {
        "used": False, "reason": "invalid_response", "spent_usd": 0,
        "candidates": len(heard), "transcribed": 0, "cached": len(heard),
    }  # fmt: skip
    assert within(clips(garbled)[0], LOUD)  # the offline choice
    [rank] = await ledger.entries(garbled["id"])
    assert rank.cost_usd is not None and 0 < rank.cost_usd < rank.reserved_usd  # billed as the provider reported
    assert fake.answered[TRANSCRIBE] == transcribed  # every later job heard the cache


async def test_a_call_that_would_pass_the_budget_is_not_made_and_the_job_completes(
    infra: Infra, tmp_path: Path, fake: FakeOpenAI, sources: SourceCache
) -> None:
    # A window costs $0.25 to hear; hearing all three and ranking fits $1.10 as planned, but the transcripts come back
    # far longer than speech can be, so the ranking call's worst case, reserved before it, would pass the budget.
    fake.hearing = lambda _level: "So. " * 500
    hearing = f"whisper-{uuid.uuid4().hex[:8]}"
    prices = {hearing: {"audio_minute": 1.0}, "gpt-4o-mini": {"input_1k": 0.1, "output_1k": 0.1}}
    settings = ai_settings(infra, tmp_path, fake, budget_limit=1.10, ai_transcribe_model=hearing, ai_prices=prices)
    talk = talk_source(sources, settings.media_root)
    async with running_service(settings) as client:
        job = await run_job(client, talk)
    entries, spent = await ledger_of(settings, job["id"])
    ai = job["result"]["ai"]
    assert ai["used"] is False and ai["reason"] == "budget", ai
    assert spent <= 1.10 and job["result"]["cost_usd"] == spent == ai["spent_usd"] > 0
    assert ai["transcribed"] == ai["candidates"] == 3, ai  # every window heard, as planned
    assert [e.operation for e in entries] == ["transcribe"] * ai["transcribed"]  # no ranking row: never reserved
    assert fake.calls[CHAT] == 0


async def test_each_model_is_billed_at_its_own_price_and_an_unpriced_one_makes_no_paid_call(
    infra: Infra, tmp_path: Path, fake: FakeOpenAI, sources: SourceCache
) -> None:
    unpriced = ai_settings(infra, tmp_path, fake, ai_rank_model="gpt-4o")  # not in AI_PRICES
    talk = talk_source(sources, unpriced.media_root)
    async with running_service(unpriced) as client:
        refused = await run_job(client, talk)
    assert refused["result"]["ai"]["used"] is False and refused["result"]["ai"]["reason"] == "unpriced"
    assert refused["result"]["cost_usd"] == 0 and sum(fake.calls.values()) == 0
    assert await ledger_of(unpriced, refused["id"]) == ([], 0)
    assert within(clips(refused)[0], LOUD)  # the offline choice

    gpt_4o = {"input_1k": 0.0025, "output_1k": 0.01}  # about 16 times gpt-4o-mini's
    priced = unpriced.model_copy(update={"ai_prices": unpriced.ai_prices | {"gpt-4o": gpt_4o}})
    counted = cost_counted()
    async with running_service(priced) as client:
        ranked = await run_job(client, talk)
    assert ranked["result"]["ai"]["used"] is True
    entries, spent = await ledger_of(priced, ranked["id"])
    [rank] = [e for e in entries if e.operation == "rank"]
    tokens = rank.units["prompt_tokens"] / 1000 * 0.0025 + rank.units["completion_tokens"] / 1000 * 0.01
    assert rank.model == "gpt-4o" and rank.cost_usd == pytest.approx(tokens, abs=1e-6)
    assert cost_counted() - counted == pytest.approx(spent, abs=1e-6)  # the metric counts what the ledger holds
