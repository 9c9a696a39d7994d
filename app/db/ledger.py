"""The cost ledger in PostgreSQL: one row per paid call, reserved before it and settled after it."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.ai.ports import Charge, LedgerEntry
from app.db.pool import once_more_on_lost_connection

# A reservation counts until it is settled: a call cut off by a kill may still have been billed.
_SPENT = "SELECT coalesce(sum(coalesce(cost_usd, reserved_usd)), 0) FROM ai_ledger WHERE job_id = $1"


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
    async def settle(self, entry_id: int, *, cost_usd: float, units: dict[str, Any]) -> None:
        """Replace an entry's reservation by what the call cost, with the units the provider reported."""
        await self.pool.execute(
            "UPDATE ai_ledger SET cost_usd = $2, units = $3, settled_at = now() WHERE id = $1",
            entry_id,
            cost_usd,
            units,
        )

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
