"""Every query about jobs: create, read, claim and lease, progress, finish, cancel."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from app.db.outbox import WebhookFor, enqueue_webhook
from app.db.pool import once_more_on_lost_connection
from app.domain.jobs import JobRow
from app.domain.spec import JobSpec

JOBS_CHANNEL = "smartedit_jobs"
FEED_CHANNEL = "smartedit_job_feed"  # notified by triggers (migration 004) on every visible change
CANCEL_CHANNEL = "smartedit_cancel"
IDEMPOTENCY_HOURS = 24


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""


class QueueFull(Exception):
    """The client already has as many queued jobs as it may."""


@dataclass(frozen=True)
class Claim:
    """A job this worker now holds, and the token that fences every write it makes."""

    job: JobRow
    token: uuid.UUID


def _row(r: asyncpg.Record | None) -> JobRow:
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


_FINISH = """
UPDATE jobs SET status = $3, result = $4, error = $5, finished_at = now(), updated_at = now(),
       progress = CASE WHEN $3 = 'completed' THEN 1 ELSE progress END, lease_token = NULL, lease_expires_at = NULL,
       finished_by = $2
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


class JobStore:
    """Every job query; a worker's writes carry its lease token and change nothing once the lease is lost."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(
        self,
        spec: JobSpec,
        *,
        client_id: str = "",
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        max_queued: int | None = None,
    ) -> tuple[JobRow, bool]:
        """Insert a queued job, or return the job this idempotency key made before (created=False).

        With `max_queued`, raises QueueFull when the client already has that many queued jobs.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            if idempotency_key is not None:
                # Serialise requests with the same key so concurrent retries make one job.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{client_id}:{idempotency_key}"
                )
                old = await conn.fetchrow(
                    "SELECT * FROM jobs WHERE client_id = $1 AND idempotency_key = $2", client_id, idempotency_key
                )
                if old is not None and old["created_at"] > await conn.fetchval(
                    "SELECT now() - make_interval(hours => $1)", IDEMPOTENCY_HOURS
                ):
                    if old["request_hash"] != request_hash:
                        raise IdempotencyConflict(idempotency_key)
                    return _row(old), False
                if old is not None:  # expired: the key is free again
                    await conn.execute("UPDATE jobs SET idempotency_key = NULL WHERE id = $1", old["id"])
            if max_queued is not None:
                # One submit per client at a time, so two concurrent ones cannot both pass the count.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))", f"queue:{client_id}")
                queued = await conn.fetchval(
                    "SELECT count(*) FROM jobs WHERE client_id = $1 AND status = 'queued'", client_id
                )
                if queued >= max_queued:
                    raise QueueFull(client_id)
            row = await conn.fetchrow(
                "INSERT INTO jobs (id, input_path, spec, client_id, idempotency_key, request_hash) "
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                uuid.uuid4(),
                spec.source_ref,
                spec.model_dump(mode="json"),
                client_id,
                idempotency_key,
                request_hash,
            )
            job = _row(row)
            await conn.execute("SELECT pg_notify($1, $2)", JOBS_CHANNEL, str(job.id))
            return job, True

    @once_more_on_lost_connection
    async def get(self, job_id: uuid.UUID, *, client_id: str | None = None) -> JobRow | None:
        """One job (of `client_id` when given), or None."""
        row = await self.pool.fetchrow(
            "SELECT * FROM jobs WHERE id = $1 AND ($2::text IS NULL OR client_id = $2)", job_id, client_id
        )
        return _row(row) if row else None

    @once_more_on_lost_connection
    async def page(
        self,
        *,
        status: str | None,
        limit: int,
        before: tuple[datetime, uuid.UUID] | None = None,
        client_id: str | None = None,
    ) -> list[JobRow]:
        """Newest first (of `client_id` when given), keyset-paged by (created_at, id)."""
        rows = await self.pool.fetch(
            "SELECT * FROM jobs WHERE ($1::text IS NULL OR status = $1) "
            "AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) "
            "AND ($5::text IS NULL OR client_id = $5) "
            "ORDER BY created_at DESC, id DESC LIMIT $4",
            status,
            before[0] if before else None,
            before[1] if before else None,
            limit,
            client_id,
        )
        return [_row(r) for r in rows]

    async def claim(self, owner: str, lease_seconds: float, *, token: uuid.UUID | None = None) -> Claim | None:
        """Take the oldest due queued job and lease it under `token` (a new one by default).

        Safe to retry with the same token: a claim whose first try committed but whose answer was lost
        returns the job that try took instead of taking a second one.
        """
        token = token or uuid.uuid4()
        row = await self._claim(token, owner, lease_seconds)
        return Claim(_row(row), token) if row else None

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

    async def ping(self) -> None:
        """Raise unless PostgreSQL answers a query."""
        await self.pool.fetchval("SELECT 1")

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
        """Log a stage start/end/skip for this attempt, only while the lease is held."""
        # One row per (job, attempt, stage, event): a retry after a lost connection writes nothing more,
        # and still answers whether the lease is held.
        held = await self.pool.fetchval(
            "WITH held AS (SELECT id, attempts FROM jobs WHERE id = $1 AND lease_token = $2), "
            "ins AS (INSERT INTO job_events (job_id, attempt, stage, event, seconds) "
            "SELECT id, attempts, $3, $4, $5 FROM held ON CONFLICT (job_id, attempt, stage, event) DO NOTHING) "
            "SELECT count(*) FROM held",
            job_id,
            token,
            stage,
            event,
            seconds,
        )
        return bool(held)

    @once_more_on_lost_connection
    async def events(self, job_id: uuid.UUID, *, after: int = 0) -> list[dict[str, Any]]:
        """The job's stage events with an id above `after`, oldest first."""
        rows = await self.pool.fetch(
            "SELECT id, attempt, stage, event, seconds, created_at FROM job_events WHERE job_id = $1 AND id > $2 "
            "ORDER BY id",
            job_id,
            after,
        )
        return [dict(r) for r in rows]

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

        Safe to retry: a job this token already finished (the first try committed, its answer was lost)
        is returned as it stands, so the caller still cleans up.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_FINISH, job_id, token, status, result, error)
            if row is None:
                done = await conn.fetchrow("SELECT * FROM jobs WHERE id = $1 AND finished_by = $2", job_id, token)
                return _row(done) if done else None
            if source_hash:
                await conn.execute("UPDATE jobs SET source_hash = $2 WHERE id = $1", job_id, source_hash)
            job = _row(row)
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

    async def request_cancel(
        self, job_id: uuid.UUID, webhook_for: WebhookFor | None = None, *, client_id: str | None = None
    ) -> JobRow | None:
        """Cancel a queued job outright; flag a running one and tell its worker. None if no such job (of client_id)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT *, coalesce(lease_expires_at < now(), false) AS lapsed FROM jobs "
                "WHERE id = $1 AND ($2::text IS NULL OR client_id = $2) FOR UPDATE",
                job_id,
                client_id,
            )
            if row is None or row["status"] not in ("queued", "running"):
                return _row(row) if row else None
            # A running job whose worker vanished has nobody to stop it: cancel it here.
            if row["status"] == "queued" or row["lapsed"]:
                row = await conn.fetchrow(
                    "UPDATE jobs SET status = 'cancelled', cancel_requested = true, lease_token = NULL, "
                    "lease_expires_at = NULL, finished_at = now(), updated_at = now() WHERE id = $1 RETURNING *",
                    job_id,
                )
                if webhook_for is not None and (hook := webhook_for(_row(row))) is not None:
                    await enqueue_webhook(conn, job_id, hook)
            else:
                row = await conn.fetchrow(
                    "UPDATE jobs SET cancel_requested = true, updated_at = now() WHERE id = $1 RETURNING *", job_id
                )
                await conn.execute("SELECT pg_notify($1, $2)", CANCEL_CHANNEL, str(job_id))
            return _row(row)

    @once_more_on_lost_connection
    async def status_counts(self) -> dict[str, int]:
        """How many jobs are in each status (queue depth for the metrics)."""
        rows = await self.pool.fetch("SELECT status, count(*) AS n FROM jobs GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    @once_more_on_lost_connection
    async def settled(self, job_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Those of `job_ids` that are final or do not exist: nothing will work on them again."""
        rows = await self.pool.fetch(
            "SELECT i.id FROM unnest($1::uuid[]) AS i(id) LEFT JOIN jobs j ON j.id = i.id "
            "WHERE j.id IS NULL OR j.status IN ('completed', 'failed', 'cancelled')",
            job_ids,
        )
        return {r["id"] for r in rows}
