"""What clients ask of jobs: create (idempotent, within the queue limit), read, page, cancel; on top of the
queries a worker makes under its lease (`db/leases.py`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from app.db.leases import JobLeases, job_row
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


class JobStore(JobLeases):
    """Every job query: a client's here, a worker's (fenced by its lease token) inherited from JobLeases."""

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
                    return job_row(old), False
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
            job = job_row(row)
            await conn.execute("SELECT pg_notify($1, $2)", JOBS_CHANNEL, str(job.id))
            return job, True

    @once_more_on_lost_connection
    async def get(self, job_id: uuid.UUID, *, client_id: str | None = None) -> JobRow | None:
        """One job (of `client_id` when given), or None."""
        row = await self.pool.fetchrow(
            "SELECT * FROM jobs WHERE id = $1 AND ($2::text IS NULL OR client_id = $2)", job_id, client_id
        )
        return job_row(row) if row else None

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
        return [job_row(r) for r in rows]

    async def ping(self) -> None:
        """Raise unless PostgreSQL answers a query."""
        await self.pool.fetchval("SELECT 1")
    @once_more_on_lost_connection
    async def events(self, job_id: uuid.UUID, *, after: int = 0) -> list[dict[str, Any]]:
        """The job's stage events numbered above `after`, in the order they committed.

        An event's id is its `seq`: a reader that has seen number n has seen every event numbered below it,
        however the writes raced (migration 010), so `after` never skips one.
        """
        rows = await self.pool.fetch(
            "SELECT seq AS id, attempt, stage, event, seconds, created_at FROM job_events "
            "WHERE job_id = $1 AND seq > $2 ORDER BY seq",
            job_id,
            after,
        )
        return [dict(r) for r in rows]

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
                return job_row(row) if row else None
            # A running job whose worker vanished has nobody to stop it: cancel it here.
            if row["status"] == "queued" or row["lapsed"]:
                row = await conn.fetchrow(
                    "UPDATE jobs SET status = 'cancelled', cancel_requested = true, lease_token = NULL, "
                    "lease_expires_at = NULL, finished_at = now(), updated_at = now(), discard_outputs = true "
                    "WHERE id = $1 RETURNING *",
                    job_id,
                )
                if webhook_for is not None and (hook := webhook_for(job_row(row))) is not None:
                    await enqueue_webhook(conn, job_id, hook)
            else:
                row = await conn.fetchrow(
                    "UPDATE jobs SET cancel_requested = true, updated_at = now() WHERE id = $1 RETURNING *", job_id
                )
                await conn.execute("SELECT pg_notify($1, $2)", CANCEL_CHANNEL, str(job_id))
            return job_row(row)

    @once_more_on_lost_connection
    async def status_counts(self) -> dict[str, int]:
        """How many jobs are in each status (queue depth for the metrics)."""
        rows = await self.pool.fetch("SELECT status, count(*) AS n FROM jobs GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

