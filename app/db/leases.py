"""The queries a worker makes under a job's lease: claim, renew, progress, stage events, finish, hand back.

Every write carries the lease token and changes nothing once the lease is lost (another worker holds the job).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from app.db.outbox import WebhookFor, enqueue_webhook
from app.db.pool import once_more_on_lost_connection
from app.domain.jobs import JobRow
from app.domain.spec import JobSpec


@dataclass(frozen=True)
class Claim:
    """A job this worker now holds, and the token that fences every write it makes."""

    job: JobRow
    token: uuid.UUID


def job_row(r: asyncpg.Record | None) -> JobRow:
    """The JobRow of a `SELECT *` (or `RETURNING *`) record of the jobs table."""
    assert r is not None, "the query returns the row it just wrote"
    return JobRow(
        id=r["id"],
        status=r["status"],
        stage=r["stage"],
        progress=r["progress"],
        spec=JobSpec.model_validate(r["spec"]),
        result=r["result"],
        error=r["error"],
        attempts=r["attempts"],
        faults=r["faults"],
        lease_token=r["lease_token"],
        cancel_requested=r["cancel_requested"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        finished_at=r["finished_at"],
    )


# A cancel the worker never heard of in time (asked for as the attempt ended, its NOTIFY sent before the claim
# reached the worker) still wins: a job whose DELETE was answered `cancel_requested` ends cancelled.
_FINISH = """
UPDATE jobs SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE $3::text END,
       result = CASE WHEN cancel_requested THEN NULL ELSE $4::jsonb END,
       error = CASE WHEN cancel_requested THEN NULL ELSE $5::jsonb END,
       progress = CASE WHEN $3 = 'completed' AND NOT cancel_requested THEN 1 ELSE progress END,
       finished_at = now(), updated_at = now(), lease_token = NULL, lease_expires_at = NULL,
       finished_by = $2, discard_outputs = cancel_requested OR $3 <> 'completed'
WHERE id = $1 AND lease_token = $2 AND status = 'running'
RETURNING *
"""

# Queued jobs only, in the order of the partial index jobs_queued_idx, so a claim reads a few index entries
# however long the backlog; expired leases are handed back to the queue by the reaper (db/workers.py).
# `mine` makes a retry with the same token return the job the first try took (jobs_lease_token_idx).
_CLAIM = """
WITH mine AS (SELECT id FROM jobs WHERE lease_token = $1),
next AS (
    SELECT id FROM jobs
    WHERE status = 'queued' AND run_after <= now() AND NOT EXISTS (SELECT 1 FROM mine)
    ORDER BY run_after, created_at
    LIMIT 1 FOR UPDATE SKIP LOCKED
),
claimed AS (
    UPDATE jobs j SET status = 'running', attempts = j.attempts + 1, lease_token = $1, lease_owner = $2,
           lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
    FROM next WHERE j.id = next.id
    RETURNING j.*
)
SELECT * FROM claimed
UNION ALL
SELECT j.* FROM jobs j JOIN mine ON j.id = mine.id
"""

# One row per (job, attempt, stage, event): a retry after a lost connection writes nothing more, and still
# answers whether the lease is held.
_RECORD_EVENT = """
WITH held AS (SELECT id, attempts FROM jobs WHERE id = $1 AND lease_token = $2),
ins AS (
    INSERT INTO job_events (job_id, attempt, stage, event, seconds)
    SELECT id, attempts, $3, $4, $5 FROM held ON CONFLICT (job_id, attempt, stage, event) DO NOTHING
)
SELECT count(*) FROM held
"""


class JobLeases:
    """A worker's side of the jobs table: each write is fenced by the lease token it holds."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def claim(self, owner: str, lease_seconds: float, *, token: uuid.UUID | None = None) -> Claim | None:
        """Take the oldest due queued job and lease it under `token` (a new one by default).

        Safe to retry with the same token: a claim whose first try committed but whose answer was lost
        returns the job that try took instead of taking a second one.
        """
        token = token or uuid.uuid4()
        row = await self._claim(token, owner, lease_seconds)
        return Claim(job_row(row), token) if row else None

    @once_more_on_lost_connection
    async def _claim(self, token: uuid.UUID, owner: str, lease_seconds: float) -> asyncpg.Record | None:
        return await self.pool.fetchrow(_CLAIM, token, owner, lease_seconds)

    @once_more_on_lost_connection
    async def renew(self, job_id: uuid.UUID, token: uuid.UUID, lease_seconds: float) -> tuple[bool, bool]:
        """Extend the lease; returns (still held, cancel requested)."""
        row = await self.pool.fetchrow(
            "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3) "
            "WHERE id = $1 AND lease_token = $2 AND status = 'running' RETURNING cancel_requested",
            job_id,
            token,
            lease_seconds,
        )
        return (row is not None, bool(row and row["cancel_requested"]))

    @once_more_on_lost_connection
    async def set_progress(self, job_id: uuid.UUID, token: uuid.UUID, stage: str, progress: float) -> bool:
        """Record the running stage and overall progress; False when the lease is gone."""
        status = await self.pool.execute(
            "UPDATE jobs SET stage = $3, progress = $4, updated_at = now() WHERE id = $1 AND lease_token = $2",
            job_id,
            token,
            stage,
            progress,
        )
        return status.endswith(" 1")

    @once_more_on_lost_connection
    async def record_event(
        self, job_id: uuid.UUID, token: uuid.UUID, stage: str, event: str, seconds: float | None
    ) -> bool:
        """Log a stage start/end/skip for this attempt, only while the lease is held.

        The event's `seq` (its SSE id) is numbered by a trigger under the job's row lock (migration 010),
        so the events of a job commit in `seq` order even when clips render in parallel.
        """
        held = await self.pool.fetchval(_RECORD_EVENT, job_id, token, stage, event, seconds)
        return bool(held)

    @once_more_on_lost_connection
    async def finish(
        self,
        job_id: uuid.UUID,
        token: uuid.UUID,
        status: str,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
        webhook_for: WebhookFor | None = None,
        source_hash: str | None = None,
    ) -> JobRow | None:
        """Move a held job to a final status and enqueue its webhook, atomically; None when the lease is gone.

        The status written is `cancelled` whatever was asked when the job's cancel was requested: the
        returned row says which, and `webhook_for` builds the webhook from it.

        Safe to retry: a job this token already finished (the first try committed, its answer was lost)
        is returned as it stands, so the caller still cleans up.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_FINISH, job_id, token, status, result, error)
            if row is None:
                done = await conn.fetchrow("SELECT * FROM jobs WHERE id = $1 AND finished_by = $2", job_id, token)
                return job_row(done) if done else None
            if source_hash:
                await conn.execute("UPDATE jobs SET source_hash = $2 WHERE id = $1", job_id, source_hash)
            job = job_row(row)
            if webhook_for is not None and (hook := webhook_for(job)) is not None:
                await enqueue_webhook(conn, job_id, hook)
            return job

    @once_more_on_lost_connection
    async def retry_later(
        self, job_id: uuid.UUID, token: uuid.UUID, delay: float, error: dict[str, Any], *, fault: bool = True
    ) -> bool:
        """Give a held job back to the queue, due after `delay` seconds; a fault counts toward MAX_ATTEMPTS."""
        status = await self.pool.execute(
            "UPDATE jobs SET status = 'queued', lease_token = NULL, lease_expires_at = NULL, error = $3, "
            "run_after = now() + make_interval(secs => $4), updated_at = now(), faults = faults + $5 "
            "WHERE id = $1 AND lease_token = $2 AND status = 'running'",
            job_id,
            token,
            error,
            delay,
            int(fault),
        )
        return status.endswith(" 1")

    @once_more_on_lost_connection
    async def release(self, job_id: uuid.UUID, token: uuid.UUID) -> bool:
        """Give a held job back to the queue at once (shutdown); its checkpoints let the next claim resume."""
        status = await self.pool.execute(
            "UPDATE jobs SET status = 'queued', lease_token = NULL, lease_expires_at = NULL, run_after = now(), "
            "updated_at = now() WHERE id = $1 AND lease_token = $2 AND status = 'running'",
            job_id,
            token,
        )
        return status.endswith(" 1")

    @once_more_on_lost_connection
    async def settled(self, job_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Those of `job_ids` that are final or do not exist: nothing will work on them again."""
        rows = await self.pool.fetch(
            "SELECT i.id FROM unnest($1::uuid[]) AS i(id) LEFT JOIN jobs j ON j.id = i.id "
            "WHERE j.id IS NULL OR j.status IN ('completed', 'failed', 'cancelled')",
            job_ids,
        )
        return {r["id"] for r in rows}
