"""Bounded senders: an attempt ends at its deadline, inside its lease, reads only the start of an answer, and a slow
receiver holds back no other receiver's webhooks (real local receivers, the real outbox)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from app.config import Settings
from app.db import JobStore, WebhookOutbox
from app.net.webhooks import EXCERPT_BYTES, RECORD_SECONDS
from tests.conftest import Infra, make_settings
from tests.support.database import migrated_store, own_database
from tests.support.receiver import Receiver, Reply
from tests.support.webhooks import finished_job, sending, wait_delivery

DEADLINE = 5.0  # the attempt deadline here: long enough that a prompt delivery beside it never races it


@pytest.fixture
async def settings(infra: Infra, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings on a database of this test's own, so the outbox holds only this test's deliveries."""
    async with own_database(infra, "smartedit_whs") as database:
        yield make_settings(infra, tmp_path, postgres_db=database)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[JobStore]:
    """The job store on the test's database, migrated."""
    async with migrated_store(settings) as migrated:
        yield migrated


async def lease_end(store: JobStore, job_id: uuid.UUID) -> datetime:
    """When the lease on the job's delivery runs out, as the database has it."""
    ends: datetime = await store.pool.fetchval(
        "SELECT lease_expires_at FROM webhook_deliveries WHERE job_id = $1", job_id
    )
    return ends


async def test_a_dripping_receiver_is_cut_off_at_the_deadline_inside_its_lease_while_others_are_served(
    store: JobStore,
) -> None:
    lease = DEADLINE + RECORD_SECONDS + 1
    async with Receiver(otherwise=Reply(200, drip=1.0)) as dripping, Receiver() as prompt:
        slow_job = await finished_job(store, dripping.url())
        async with sending(store, attempt_seconds=DEADLINE, lease_seconds=lease, schedule=(60,)):
            await dripping.wait_for(1)  # the dripping attempt is under way
            leased_until = await lease_end(store, slow_job)
            quick_job = await finished_job(store, prompt.url())
            quick = await wait_delivery(store, quick_job, tries=1)
            [slow_meanwhile] = await WebhookOutbox(store.pool).deliveries(slow_job)
            slow = await wait_delivery(store, slow_job, tries=1, timeout=DEADLINE + 15)
    assert quick["status"] == "delivered"
    assert slow_meanwhile["tries"] == []  # the prompt receiver was served while the dripping attempt was open
    assert slow["status"] == "pending" and slow["attempts"] == 1  # failed, to be retried
    [attempt] = slow["tries"]
    assert attempt["status_code"] is None and "deadline" in attempt["error"], attempt
    assert DEADLINE * 1000 - 50 <= attempt["duration_ms"] < (DEADLINE + RECORD_SECONDS) * 1000, attempt
    # Recorded (and the lease let go) before the lease ran out: no other sender could have taken it meanwhile.
    assert datetime.fromisoformat(attempt["created_at"]) < leased_until
    assert len(dripping.requests) == 1


async def test_a_huge_answer_is_read_no_further_than_its_excerpt(store: JobStore) -> None:
    chunk = b"ok" * 32 * 1024
    repeat = 1024  # 64 MiB announced and offered
    async with Receiver(otherwise=Reply(200, body=chunk, repeat=repeat)) as receiver:
        job_id = await finished_job(store, receiver.url())
        async with sending(store):
            delivery = await wait_delivery(store, job_id, tries=1)
            [sent] = await receiver.wait_sent(1)
    assert delivery["status"] == "delivered"
    assert delivery["tries"][0]["response_excerpt"] == "ok" * (EXCERPT_BYTES // 2)
    # The sender hung up after its excerpt: what got out is what the sockets' buffers took, not the 64 MiB.
    assert sent < len(chunk) * repeat // 4, sent


async def test_a_stuck_receiver_with_many_deliveries_takes_only_its_share_of_the_sender(store: JobStore) -> None:
    answer = asyncio.Event()
    async with Receiver(otherwise=Reply(200, until=answer)) as stuck, Receiver() as prompt:
        stuck_jobs = [await finished_job(store, stuck.url()) for _ in range(3)]
        try:
            async with sending(store, concurrency=2, per_target=1):
                await stuck.wait_for(1)
                quick_job = await finished_job(store, prompt.url())
                quick = await wait_delivery(store, quick_job, tries=1)
                in_flight = len(stuck.requests)
                answer.set()
                stuck_deliveries = [await wait_delivery(store, job, tries=1) for job in stuck_jobs]
        finally:
            answer.set()
    assert quick["status"] == "delivered"
    assert in_flight == 1  # one attempt at a time to the stuck receiver, though three were due and two slots free
    assert [d["status"] for d in stuck_deliveries] == ["delivered"] * 3
    assert [d["attempts"] for d in stuck_deliveries] == [1] * 3  # one handed back unsent is not an attempt
    assert len(stuck.requests) == 3
