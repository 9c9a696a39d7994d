"""The AI ports' conformance: the PostgreSQL and in-memory adapters pass the same cases, one test each."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from app.ai.memory import MemoryLedger, MemoryTranscripts
from app.ai.ports import Charge, CostLedger, Cue, Transcript, TranscriptCache, TranscriptKey, Word
from app.config import Settings
from app.db import create_pool, migrate
from app.db.ledger import PgLedger
from app.db.transcripts import PgTranscripts


@pytest.fixture(params=["memory", "postgres"])
async def ports(
    request: pytest.FixtureRequest, settings: Settings
) -> AsyncIterator[tuple[TranscriptCache, CostLedger]]:
    if request.param == "memory":
        yield MemoryTranscripts(), MemoryLedger()
        return
    pool = await create_pool(settings.postgres_dsn, max_size=12)
    await migrate(pool)
    yield PgTranscripts(pool), PgLedger(pool)
    await pool.close()


def _charge(job: str, usd: float, operation: str = "transcribe") -> Charge:
    return Charge(job, "openai", operation, "whisper-1", usd, {"audio_seconds": 15})


async def test_transcript_cache_keys_by_source_range_and_model(ports: tuple[TranscriptCache, CostLedger]) -> None:
    cache, _ = ports
    source = uuid.uuid4().hex
    key = TranscriptKey.of(source, 12.0, 27.5, "whisper-1")
    said = Transcript(
        text="Hé, ça marche.",
        cues=[Cue(start=0.0, end=2.5, text="Hé, ça marche.")],
        words=[
            Word(start=0.0, end=0.4, word="Hé,"),
            Word(start=0.5, end=0.9, word="ça"),
            Word(start=1.0, end=1.6, word="marche."),
        ],
    )
    assert await cache.get(key) is None
    await cache.put(key, said)
    await cache.put(key, Transcript(text="a second put keeps the first"))
    assert await cache.get(key) == said
    assert await cache.get(TranscriptKey.of(source, 12.0, 27.5, "another-model")) is None
    assert await cache.get(TranscriptKey.of(source, 12.0, 27.6, "whisper-1")) is None
    assert await cache.get(TranscriptKey.of(uuid.uuid4().hex, 12.0, 27.5, "whisper-1")) is None


async def test_ledger_reserves_within_the_limit_settles_and_never_passes_it(
    ports: tuple[TranscriptCache, CostLedger],
) -> None:
    _, ledger = ports
    job, other = uuid.uuid4().hex, uuid.uuid4().hex
    first = await ledger.reserve(_charge(job, 1.5), limit_usd=4.0)
    assert first is not None
    assert await ledger.spent(job) == 1.5  # an open reservation counts: the call may be billed
    await ledger.settle(first, cost_usd=0.25, units={"audio_seconds": 15})
    assert await ledger.spent(job) == 0.25
    assert await ledger.reserve(_charge(job, 3.76), limit_usd=4.0) is None  # 0.25 + 3.76 > 4
    assert await ledger.reserve(_charge(job, 3.75), limit_usd=4.0) is not None  # exactly the limit is allowed
    assert await ledger.spent(job) == 4.0
    assert await ledger.reserve(_charge(other, 3.0), limit_usd=4.0) is not None  # budgets are per job

    # Concurrent reservations of one job: the check and the record are one step, so exactly 3 of 10 fit.
    racing = uuid.uuid4().hex
    granted = await asyncio.gather(*(ledger.reserve(_charge(racing, 1.0), limit_usd=3.0) for _ in range(10)))
    assert sum(g is not None for g in granted) == 3
    assert await ledger.spent(racing) == 3.0

    entries = await ledger.entries(job)
    assert [(e.operation, e.reserved_usd, e.cost_usd) for e in entries] == [
        ("transcribe", 1.5, 0.25),
        ("transcribe", 3.75, None),
    ]
    assert entries[0].units == {"audio_seconds": 15} and entries[0].api_name == "openai"


async def test_ledger_settles_an_entry_once_and_never_above_its_reservation(
    ports: tuple[TranscriptCache, CostLedger],
) -> None:
    _, ledger = ports
    job = uuid.uuid4().hex
    cheap = await ledger.reserve(_charge(job, 0.5), limit_usd=4.0)
    dear = await ledger.reserve(_charge(job, 1.0), limit_usd=4.0)
    assert cheap is not None and dear is not None
    # A usage reported above the worst case is recorded at the reservation the budget was checked against.
    assert await ledger.settle(cheap, cost_usd=0.8, units={"audio_seconds": 80}) == 0.5
    assert await ledger.settle(dear, cost_usd=0.25, units={"audio_seconds": 15}) == 0.25
    # A second settle of a closed entry (a late answer after the entry was closed) changes and counts nothing.
    assert await ledger.settle(dear, cost_usd=0.75, units={"audio_seconds": 45}) is None
    assert await ledger.spent(job) == 0.75
    assert [(e.cost_usd, e.units) for e in await ledger.entries(job)] == [
        (0.5, {"audio_seconds": 80}),  # the provider's report is kept: the row shows what was capped
        (0.25, {"audio_seconds": 15}),
    ]
