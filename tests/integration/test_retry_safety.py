"""Writes retried after a lost connection change nothing twice; faults apart from hand-backs; the reaper."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from app.config import Settings
from app.db import Claim, JobStore, Webhook, WebhookOutbox, WorkerRegistry
from app.db.checkpoint import RedisCheckpoints
from app.db.retention import RetentionStore
from app.domain.jobs import JobRow
from app.domain.spec import JobSpec
from app.media.ffmpeg import find_binaries
from app.pipeline.editor import SmartVideoEditor
from app.runner.attempt import Attempt
from app.storage import Media
from app.storage.local import LocalStore
from tests.conftest import Infra, make_settings
from tests.support.database import migrated_store, own_database
from tests.support.results import sample_result


@pytest.fixture
async def settings(infra: Infra, tmp_path: Path) -> AsyncIterator[Settings]:
    async with own_database(infra, "smartedit_retry") as database:
        yield make_settings(infra, tmp_path, postgres_db=database)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[JobStore]:
    async with migrated_store(settings) as migrated:
        yield migrated


def hook(job: JobRow) -> Webhook:
    return Webhook("job.completed", "http://127.0.0.1:9/hook", {"id": str(job.id)})


async def test_a_claim_retried_with_its_token_returns_the_same_job_and_claims_no_other(store: JobStore) -> None:
    first, _ = await store.create(JobSpec(input_path="a.mp4"))
    await store.create(JobSpec(input_path="b.mp4"))
    token = uuid.uuid4()
    claim = await store.claim("w", 30, token=token)
    again = await store.claim("w", 30, token=token)  # the answer to the first was lost: the retry
    assert claim is not None and again is not None
    assert again.job.id == claim.job.id == first.id and again.token == token
    assert (await store.status_counts()) == {"running": 1, "queued": 1}
    assert again.job.attempts == 1


async def test_a_claim_whose_connection_is_dropped_mid_query_leaves_no_orphan(
    settings: Settings, store: JobStore
) -> None:
    await store.create(JobSpec(input_path="a.mp4"))
    await store.create(JobSpec(input_path="b.mp4"))
    # Hold the queued rows' locks from another session so the claim blocks, kill its backend while it
    # waits, then let the retry run: whatever the first try did, one job is running, held by our token.
    locker = await asyncpg.connect(settings.postgres_dsn)
    admin = await asyncpg.connect(settings.postgres_dsn)
    try:
        tx = locker.transaction()
        await tx.start()
        await locker.execute("LOCK TABLE jobs IN EXCLUSIVE MODE")
        token = uuid.uuid4()
        claiming = asyncio.create_task(store.claim("w", 30, token=token))
        for _ in range(100):
            pids = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if pids:
                break
            await asyncio.sleep(0.05)
        assert pids, "the claim never waited on the lock"
        await admin.execute("SELECT pg_terminate_backend($1)", pids[0]["pid"])
        await asyncio.sleep(0.2)
        await tx.rollback()
        claim = await claiming
    finally:
        await locker.close()
        await admin.close()
    assert claim is not None and claim.token == token
    assert await store.status_counts() == {"running": 1, "queued": 1}


async def test_a_finish_retried_by_its_token_returns_the_outcome_and_still_cleans_up(
    settings: Settings, store: JobStore, redis: Redis
) -> None:
    job, claim = await _claimed(store)
    attempt = _attempt(settings, store, redis, claim)
    work = attempt.editor.work_dir(str(job.id)) / "attempt"
    work.mkdir(parents=True)
    (work / "segment_00.mov").write_bytes(b"clip")
    # The first try committed, but its answer was lost with the connection.
    assert await store.finish(job.id, claim.token, "completed", result=sample_result(), webhook_for=hook) is not None
    assert await attempt.finish("completed", result=sample_result()) == "completed"
    assert not attempt.editor.work_dir(str(job.id)).exists()
    assert [d["event_type"] for d in await WebhookOutbox(store.pool).deliveries(job.id)] == ["job.completed"]
    assert await store.finish(job.id, uuid.uuid4(), "failed") is None  # another token is still refused


async def test_a_cancel_asked_for_as_the_attempt_completes_ends_the_job_cancelled_with_nothing_kept(
    settings: Settings, store: JobStore, redis: Redis
) -> None:
    # The DELETE was answered `cancel_requested`; its NOTIFY reached the worker before the claim did, and the
    # job's last stage ended before the next heartbeat. The attempt asks for `completed`: the cancel wins.
    job, claim = await _claimed(store)
    flagged = await store.request_cancel(job.id)
    assert flagged is not None and flagged.status == "running" and flagged.cancel_requested
    attempt = _attempt(settings, store, redis, claim)
    reel = settings.temp_dir / "reel.mp4"
    reel.write_bytes(b"reel")
    await attempt.media.store.publish(str(job.id), "reel", reel)

    assert await attempt.finish("completed", result=sample_result()) == "cancelled"
    ended = await store.get(job.id)
    assert ended is not None and (ended.status, ended.result, ended.error) == ("cancelled", None, None)
    assert [d["event_type"] for d in await WebhookOutbox(store.pool).deliveries(job.id)] == ["job.cancelled"]
    local = attempt.media.store
    assert isinstance(local, LocalStore)
    assert not local.reel_path(str(job.id)).exists()


async def _claimed(store: JobStore) -> tuple[JobRow, Claim]:
    """A job with a webhook, claimed: running under a lease."""
    job, _ = await store.create(JobSpec(input_path="a.mp4", webhook_url="http://127.0.0.1:9/hook"))
    claim = await store.claim("w", 30)
    assert claim is not None
    return job, claim


def _attempt(settings: Settings, store: JobStore, redis: Redis, claim: Claim) -> Attempt:
    return Attempt(
        settings=settings,
        store=store,
        retention=RetentionStore(store.pool),
        editor=SmartVideoEditor(binaries=find_binaries(), temp_dir=settings.temp_dir, max_source_seconds=60),
        checkpoints=RedisCheckpoints(redis, ttl=60, token=claim.token.hex),
        media=Media(LocalStore(output_root=settings.output_root, uploads_root=settings.data_dir / "uploads"), None),
        job=claim.job,
        token=claim.token,
    )


async def test_an_event_retried_is_written_once_and_still_reports_the_lease(store: JobStore) -> None:
    job, _ = await store.create(JobSpec(input_path="a.mp4"))
    claim = await store.claim("w", 30)
    assert claim is not None
    assert await store.record_event(job.id, claim.token, "validate", "start", None)
    assert await store.record_event(job.id, claim.token, "validate", "start", None)
    assert [(e["stage"], e["event"]) for e in await store.events(job.id)] == [("validate", "start")]
    assert not await store.record_event(job.id, uuid.uuid4(), "validate", "end", 1.0)


async def test_a_hand_back_is_not_a_fault_and_a_retry_is(store: JobStore) -> None:
    job, _ = await store.create(JobSpec(input_path="a.mp4"))
    for _ in range(3):
        claim = await store.claim("w", 30)
        assert claim is not None
        assert await store.release(job.id, claim.token)
    claim = await store.claim("w", 30)
    assert claim is not None and claim.job.attempts == 4 and claim.job.faults == 0
    assert await store.retry_later(job.id, claim.token, 0, {"code": "retrying", "message": "x"})
    claim = await store.claim("w", 30)
    assert claim is not None and claim.job.attempts == 5 and claim.job.faults == 1


async def test_claims_skip_expired_leases_until_the_reaper_requeues_them_as_faults(store: JobStore) -> None:
    stalled, _ = await store.create(JobSpec(input_path="a.mp4"))
    taken = await store.claim("gone", 0.01)
    assert taken is not None and taken.job.id == stalled.id
    waiting, _ = await store.create(JobSpec(input_path="b.mp4"))
    claim = await store.claim("w", 30)
    assert claim is not None and claim.job.id == waiting.id
    await asyncio.sleep(0.05)  # past the stalled claim's 10 ms lease, however fast the lines above ran
    assert await store.claim("w", 30) is None  # the expired lease is not a claim's business
    assert await WorkerRegistry(store.pool).reap_expired() == 1
    again = await store.claim("w", 30)
    assert again is not None and again.job.id == stalled.id and again.job.faults == 1 and again.job.attempts == 2
    assert not await store.set_progress(stalled.id, taken.token, "render", 0.5)  # the stalled worker is fenced off
