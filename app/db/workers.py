"""Workers: who is registered, and taking back the leases of workers that died or stalled."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from app.db.jobs import JOBS_CHANNEL
from app.db.pool import once_more_on_lost_connection

_REAP_BATCH = 100  # expired leases handed back per pass; the next pass takes the rest


@dataclass(frozen=True)
class Registration:
    """A worker process as it registered itself: enough to tell, from the same machine, whether it still runs."""

    id: str  # the lease_owner written on the jobs it holds
    host: str
    pid: int
    boot_id: str
    pid_namespace: str
    started_at: float  # process start time, epoch seconds


class WorkerRegistry:
    """The workers table, and the queries that give a gone worker's jobs back to the queue."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @once_more_on_lost_connection
    async def heartbeat(self, me: Registration) -> None:
        """Register, or refresh the heartbeat of, this worker (an upsert: safe to repeat)."""
        await self.pool.execute(
            "INSERT INTO workers (id, host, pid, boot_id, pid_namespace, started_at) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
            me.id,
            me.host,
            me.pid,
            me.boot_id,
            me.pid_namespace,
            me.started_at,
        )

    @once_more_on_lost_connection
    async def unregister(self, worker_id: str) -> None:
        """Forget a worker that stopped cleanly."""
        await self.pool.execute("DELETE FROM workers WHERE id = $1", worker_id)

    @once_more_on_lost_connection
    async def holding_leases(self) -> list[Registration]:
        """Registered workers that hold the lease of a running job."""
        rows = await self.pool.fetch(
            "SELECT w.id, w.host, w.pid, w.boot_id, w.pid_namespace, w.started_at FROM workers w "
            "WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.status = 'running' AND j.lease_owner = w.id)"
        )
        return [Registration(**dict(r)) for r in rows]

    @once_more_on_lost_connection
    async def hand_back_jobs_of(self, worker_id: str) -> int:
        """Requeue the running jobs of a worker known to be dead; each counts as a fault. Returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE jobs SET status = 'queued', lease_token = NULL, lease_expires_at = NULL, run_after = now(), "
                "faults = faults + 1, updated_at = now() WHERE status = 'running' AND lease_owner = $1",
                worker_id,
            )
            await conn.execute("DELETE FROM workers WHERE id = $1", worker_id)
            count = int(status.split()[-1])
            if count:
                await conn.execute("SELECT pg_notify($1, '')", JOBS_CHANNEL)
            return count

    @once_more_on_lost_connection
    async def reap_expired(self) -> int:
        """Requeue running jobs whose lease ran out (a crashed or stalled worker: a fault). Returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE jobs SET status = 'queued', lease_token = NULL, lease_expires_at = NULL, run_after = now(), "
                "faults = faults + 1, updated_at = now() WHERE id IN ("
                "  SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at < now() "
                "  ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)",
                _REAP_BATCH,
            )
            count = int(status.split()[-1])
            if count:
                await conn.execute("SELECT pg_notify($1, '')", JOBS_CHANNEL)
            return count

    @once_more_on_lost_connection
    async def forget_silent(self, older_than_seconds: float) -> int:
        """Drop registrations whose heartbeat stopped long ago and that hold no lease (kept tidy, never judged)."""
        status = await self.pool.execute(
            "DELETE FROM workers w WHERE heartbeat_at < now() - make_interval(secs => $1) "
            "AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.status = 'running' AND j.lease_owner = w.id)",
            older_than_seconds,
        )
        return int(status.split()[-1])
