"""The cost ledger in PostgreSQL: one row per paid call, reserved before it and settled after it."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.ai.ports import Charge, LedgerEntry
from app.db.pool import once_more_on_lost_connection

# A reservation counts until it is settled: a call cut off by a kill may still have been billed.
_SPENT = "SELECT coalesce(sum(coalesce(cost_usd, reserved_usd)), 0) FROM ai_ledger WHERE job_id = $1"

# Reads the open entries through ai_ledger_open_idx (migration 010); the CASE casts only canonical job ids.
_CLOSE_ABANDONED = """
UPDATE ai_ledger l SET cost_usd = l.reserved_usd, settled_at = now(), units = l.units || '{"outcome": "abandoned"}'
FROM jobs j
WHERE l.cost_usd IS NULL AND j.status <> 'running'
  AND j.id = CASE WHEN l.job_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                  THEN l.job_id::uuid END
RETURNING l.api_name, l.reserved_usd
"""


class PgLedger:
    """A CostLedger over the `ai_ledger` table (migration 006)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def reserve(self, charge: Charge, *, limit_usd: float) -> int | None:
        """Record `charge`, returning its entry id; None (nothing recorded) if the job's total would pass the limit."""
        async with self.pool.acquire() as conn, conn.transaction():
            # One reservation of a job at a time, across workers: the check and the insert are one step.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 17))", charge.job_id)
            spent = float(await conn.fetchval(_SPENT, charge.job_id))
            if round(spent + charge.reserved_usd, 6) > limit_usd:
                return None
            entry_id: int = await conn.fetchval(
                "INSERT INTO ai_ledger (job_id, api_name, operation, model, reserved_usd, units) "
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                charge.job_id,
                charge.api_name,
                charge.operation,
                charge.model,
                charge.reserved_usd,
                charge.units,
            )
            return entry_id

    @once_more_on_lost_connection
    async def settle(self, entry_id: int, *, cost_usd: float, units: dict[str, Any]) -> float | None:
        """Close an open entry at what the call cost, at most its reservation; None when it was closed already."""
        recorded = await self.pool.fetchval(
            "UPDATE ai_ledger SET cost_usd = least($2, reserved_usd), units = $3, settled_at = now() "
            "WHERE id = $1 AND cost_usd IS NULL RETURNING cost_usd",
            entry_id,
            cost_usd,
            units,
        )
        return None if recorded is None else float(recorded)

    @once_more_on_lost_connection
    async def close_abandoned(self) -> dict[str, float]:
        """Close, at their reservation, the open entries of jobs no longer running; USD closed per api_name.

        A call cut off by a kill -9, a cancel or a lost lease is never settled, yet the provider may have billed
        it: it counts at its reservation, as the budget counted it. The job's next attempt (or none) is not the
        attempt that reserved it, so once the job stops running nothing will settle it. Entries of ids that are
        not the service's jobs (`smartedit process`, tests) are left alone.
        """
        rows = await self.pool.fetch(_CLOSE_ABANDONED)
        closed: dict[str, float] = {}
        for r in rows:
            closed[r["api_name"]] = round(closed.get(r["api_name"], 0.0) + float(r["reserved_usd"]), 6)
        return closed

    @once_more_on_lost_connection
    async def spent(self, job_id: str) -> float:
        """The job's total: settled costs plus open reservations."""
        return round(float(await self.pool.fetchval(_SPENT, job_id)), 6)

    @once_more_on_lost_connection
    async def entries(self, job_id: str) -> list[LedgerEntry]:
        """The job's entries, oldest first."""
        rows = await self.pool.fetch(
            "SELECT id, job_id, api_name, operation, model, reserved_usd, cost_usd, units FROM ai_ledger "
            "WHERE job_id = $1 ORDER BY id",
            job_id,
        )
        return [
            LedgerEntry(
                id=r["id"],
                job_id=r["job_id"],
                api_name=r["api_name"],
                operation=r["operation"],
                model=r["model"],
                reserved_usd=float(r["reserved_usd"]),
                cost_usd=None if r["cost_usd"] is None else float(r["cost_usd"]),
                units=r["units"],
            )
            for r in rows
        ]
