"""Stage events reach readers in commit order: the SSE stream's `seq > last` never skips one that committed late."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.api.app import create_app
from app.config import Settings
from app.db import JobStore, create_pool, migrate
from app.db.leases import _RECORD_EVENT
from app.db.pool import MIGRATIONS_DIR
from app.domain.spec import JobSpec
from tests.conftest import Infra, make_settings
from tests.support.database import migrated_store, own_database
from tests.support.media import make_source
from tests.support.sse import Event, events, served


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[JobStore]:
    async with migrated_store(settings) as migrated:
        yield migrated


async def _blocked_by(store: JobStore, pid: int) -> bool:
    """Whether a backend of this database is waiting for a lock the backend `pid` holds."""
    waiting = await store.pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND $1 = ANY(pg_blocking_pids(pid))",
        pid,
    )
    return bool(waiting)


async def test_an_event_whose_transaction_commits_late_is_still_read_after_a_later_one(
    settings: Settings, store: JobStore
) -> None:
    job, _ = await store.create(JobSpec(input_path="a.mp4"))
    claim = await store.claim("w", 30)
    assert claim is not None
    # Clip 0's event is written first on a connection of its own, and its transaction is held open; clip 1's,
    # written next through the store, would commit first. The reader polls in between, as the SSE stream does.
    held: asyncpg.Connection = await asyncpg.connect(settings.postgres_dsn)
    try:
        open_tx = held.transaction()
        await open_tx.start()
        assert await held.fetchval(_RECORD_EVENT, job.id, claim.token, "segment:0", "start", None) == 1
        later = asyncio.create_task(store.record_event(job.id, claim.token, "segment:1", "start", None))
        deadline = time.monotonic() + 30
        while not later.done() and not await _blocked_by(store, held.get_server_pid()):
            assert time.monotonic() < deadline, "the second event neither committed nor waited for the first"
            await asyncio.sleep(0.01)
        seen = await store.events(job.id)
        last = max((e["id"] for e in seen), default=0)
        await open_tx.commit()
        assert await asyncio.wait_for(later, 30)
        seen += await store.events(job.id, after=last)
    finally:
        await held.close()
    assert [(e["stage"], e["event"]) for e in seen] == [("segment:0", "start"), ("segment:1", "start")]
    assert [e["id"] for e in seen] == sorted({e["id"] for e in seen})  # numbered in the order they committed


async def test_events_written_before_the_upgrade_keep_their_ids_so_a_last_event_id_still_resumes(
    infra: Infra, tmp_path: Path
) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql")):
        if path.name < "010":
            shutil.copy(path, before / path.name)
    async with own_database(infra, "smartedit_seq") as database:
        pool = await create_pool(make_settings(infra, tmp_path, postgres_db=database).postgres_dsn, max_size=2)
        try:
            await migrate(pool, before)
            store = JobStore(pool)
            jobs = [(await store.create(JobSpec(input_path=f"{n}.mp4")))[0] for n in range(2)]
            for _ in jobs:  # interleaved: each job's ids have gaps, as they had in production
                claim = await store.claim("w", 30)
                assert claim is not None
                for stage in ("fetch", "validate"):
                    assert await store.record_event(claim.job.id, claim.token, stage, "start", None)
            old_ids = [r["id"] for r in await pool.fetch("SELECT id FROM job_events WHERE job_id = $1", jobs[0].id)]
            await migrate(pool)
            assert [e["id"] for e in await store.events(jobs[0].id)] == old_ids
            claim_token = await pool.fetchval("SELECT lease_token FROM jobs WHERE id = $1", jobs[0].id)
            assert await store.record_event(jobs[0].id, claim_token, "analyze", "start", None)
            resumed = await store.events(jobs[0].id, after=old_ids[-1])
            assert [(e["stage"], e["id"] > old_ids[-1]) for e in resumed] == [("analyze", True)]
        finally:
            await pool.close()


@pytest.fixture
async def parallel_api(infra: Infra, tmp_path: Path) -> AsyncIterator[tuple[str, Settings]]:
    """API and runner in one process, rendering three clips of a job at once."""
    settings = make_settings(infra, tmp_path, render_parallelism=3, sse_heartbeat_seconds=0.3)
    async with served(create_app(settings, run_worker=True)) as url:
        yield url, settings


async def test_the_stream_of_a_job_rendering_clips_in_parallel_delivers_every_stage_event_in_order(
    parallel_api: tuple[str, Settings],
) -> None:
    url, settings = parallel_api
    make_source(settings.media_root / "talk.mp4", seconds=80, size="160x90")
    highlights = [{"start_time": s, "end_time": s + 15} for s in (0, 20, 40, 60)]  # 15 s: the shortest clip
    body = {"input_path": "talk.mp4", "highlights": highlights, "output": {"preset": "ultrafast"}}
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        job = (await client.post("/jobs", json=body)).json()
        got: list[Event] = []
        async with client.stream("GET", f"/jobs/{job['id']}/events/stream") as response:
            async for event in events(response):
                got.append(event)
                if event.name == "job":
                    break
        timeline = (await client.get(f"/jobs/{job['id']}/events")).json()
    assert got[-1].data["status"] == "completed", got[-1].data
    assert got[-1].data["result"]["segments_processed"] == 4
    streamed = [{"id": int(e.id), **e.data} for e in got if e.name == "stage" and e.id is not None]
    assert streamed == timeline, "the stream skipped, repeated or reordered a stage event"
    # The clips really rendered at once: some clip started while another was still being encoded.
    open_clips: set[str] = set()
    most = 0
    for e in timeline:
        if e["stage"].startswith("segment:"):
            (open_clips.add if e["event"] == "start" else open_clips.discard)(e["stage"])
            most = max(most, len(open_clips))
    assert most >= 2, [(e["stage"], e["event"]) for e in timeline]
