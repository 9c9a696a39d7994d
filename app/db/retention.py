"""Retention queries: reels past OUTPUT_TTL or of failed jobs, uploads past their time, jobs past JOB_RETENTION."""

from __future__ import annotations

import uuid

import asyncpg

from app.db.pool import once_more_on_lost_connection

_FINAL = ("completed", "failed", "cancelled")


class RetentionStore:
    """Every query of the retention sweep."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @once_more_on_lost_connection
    async def expired_outputs(self, limit: int = 100) -> list[uuid.UUID]:
        """Completed jobs whose reel is past `result.output_expires_at` and not yet marked expired."""
        rows = await self.pool.fetch(
            "SELECT id FROM jobs WHERE status = 'completed' AND (result->>'output_expires_at')::timestamptz < now() "
            "AND NOT coalesce((result->>'output_expired')::boolean, false) LIMIT $1",
            limit,
        )
        return [r["id"] for r in rows]

    @once_more_on_lost_connection
    async def mark_output_expired(self, job_id: uuid.UUID) -> None:
        """The job's reel is gone: the job stays completed, its result says so."""
        await self.pool.execute(
            "UPDATE jobs SET result = result || jsonb_build_object('output_expired', true, "
            "'output_expires_at', least(coalesce((result->>'output_expires_at')::timestamptz, now()), now())), "
            "updated_at = now() WHERE id = $1 AND status = 'completed'",
            job_id,
        )

    @once_more_on_lost_connection
    async def outputs_to_discard(self, limit: int = 100) -> list[uuid.UUID]:
        """Failed and cancelled jobs whose files are not known to be deleted (their process may have died first)."""
        rows = await self.pool.fetch("SELECT id FROM jobs WHERE discard_outputs LIMIT $1", limit)
        return [r["id"] for r in rows]

    @once_more_on_lost_connection
    async def outputs_discarded(self, job_id: uuid.UUID) -> None:
        """The failed or cancelled job's files are deleted."""
        await self.pool.execute("UPDATE jobs SET discard_outputs = false WHERE id = $1", job_id)

    @once_more_on_lost_connection
    async def expired_uploads(self, used_ttl: float, limit: int = 100) -> list[uuid.UUID]:
        """Uploads no job used before they expired, and used ones `used_ttl` seconds after use with no job pending."""
        rows = await self.pool.fetch(
            "SELECT id FROM uploads u WHERE (used_at IS NULL AND expires_at < now()) "
            "OR (used_at < now() - make_interval(secs => $1) AND NOT EXISTS ("
            "  SELECT 1 FROM jobs j WHERE j.spec->>'input_upload' = u.id::text AND j.status IN ('queued', 'running')"
            ")) LIMIT $2",
            used_ttl,
            limit,
        )
        return [r["id"] for r in rows]

    @once_more_on_lost_connection
    async def forget_upload(self, upload_id: uuid.UUID) -> None:
        """The upload's bytes are deleted: drop its row."""
        await self.pool.execute("DELETE FROM uploads WHERE id = $1", upload_id)

    @once_more_on_lost_connection
    async def purge_transcripts(self, unused_for: float) -> int:
        """Delete transcripts no job has read for `unused_for` seconds; returns how many went."""
        status = await self.pool.execute(
            "DELETE FROM transcripts WHERE used_at < now() - make_interval(secs => $1)", unused_for
        )
        return int(status.split()[-1])

    @once_more_on_lost_connection
    async def purge_jobs(self, older_than: float, limit: int = 500) -> list[uuid.UUID]:
        """Delete finished jobs older than `older_than` seconds, with their events and webhook attempts (cascade)."""
        rows = await self.pool.fetch(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status = ANY($1::text[]) "
            "AND finished_at < now() - make_interval(secs => $2) LIMIT $3) RETURNING id",
            list(_FINAL),
            older_than,
            limit,
        )
        return [r["id"] for r in rows]
