"""Claim throughput: 16 concurrent claimers on 200,000 finished and 20,000 queued jobs, the real claim query.

`python -m bench.claims` (or `make bench-claims`) against the PostgreSQL named by POSTGRES_* (a database of
its own, created and dropped). The old claim query (queued OR lease-expired, one sort over both) runs on a
fresh copy of the same data in the same run, for comparison. Every claimed id is checked to be claimed once.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from app.config import Settings
from app.db import JobStore, create_pool, migrate
from app.domain.spec import JobSpec
from app.ops.embedded import ensure_database
from bench.report import table

FINISHED, QUEUED, CLAIMERS = 200_000, 20_000, 16
TARGET = 1_000.0  # claims/s

# The claim query before migration 002, kept here only to measure against.
OLD_CLAIM = """
WITH next AS (
    SELECT id FROM jobs
    WHERE (status = 'queued' AND run_after <= now())
       OR (status = 'running' AND lease_expires_at < now())
    ORDER BY run_after, created_at
    LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE jobs j SET status = 'running', attempts = j.attempts + 1, lease_token = $1, lease_owner = $2,
       lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
FROM next WHERE j.id = next.id
RETURNING j.id
"""


@dataclass(frozen=True)
class Outcome:
    """What one claim query achieved in its window."""

    name: str
    claims: int
    seconds: float
    latencies_ms: list[float]
    claimed_twice: int
    max_attempts: int

    @property
    def rate(self) -> float:
        return self.claims / self.seconds


async def load(pool: asyncpg.Pool) -> None:
    """Empty the queue, then bulk-load the finished and queued jobs in two statements, and VACUUM ANALYZE."""
    spec = JobSpec(input_path="bench.mp4").model_dump(mode="json")
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE jobs CASCADE")
        await conn.execute(
            "INSERT INTO jobs (id, status, input_path, spec, attempts, progress, created_at, updated_at, finished_at) "
            "SELECT gen_random_uuid(), 'completed', 'bench.mp4', $1, 1, 1, "
            "now() - make_interval(secs => g), now() - make_interval(secs => g), now() - make_interval(secs => g) "
            "FROM generate_series(1, $2) g",
            spec,
            FINISHED,
        )
        await conn.execute(
            "INSERT INTO jobs (id, status, input_path, spec, created_at, run_after) "
            "SELECT gen_random_uuid(), 'queued', 'bench.mp4', $1, now() - make_interval(secs => $2 - g), "
            "now() - make_interval(secs => $2 - g) FROM generate_series(1, $2) g",
            spec,
            QUEUED,
        )
        await conn.execute("VACUUM ANALYZE jobs")


Claimer = Callable[[], Awaitable[uuid.UUID | None]]  # one claim; the job id, or None when nothing is due


async def run(name: str, pool: asyncpg.Pool, claim: Claimer, window: float) -> Outcome:
    """CLAIMERS tasks claiming until the queue is empty or `window` seconds have passed."""
    claimed: list[uuid.UUID] = []
    latencies: list[float] = []
    deadline = time.monotonic() + window

    async def claimer() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            job_id = await claim()
            latencies.append((time.perf_counter() - started) * 1000)
            if job_id is None:
                return
            claimed.append(job_id)

    started = time.monotonic()
    await asyncio.gather(*(claimer() for _ in range(CLAIMERS)))
    seconds = time.monotonic() - started
    most = await pool.fetchval("SELECT coalesce(max(attempts), 0) FROM jobs WHERE status = 'running'")
    return Outcome(name, len(claimed), seconds, latencies, len(claimed) - len(set(claimed)), most)


async def main(window: float, compare: bool) -> list[Outcome]:
    settings = Settings()
    database = f"smartedit_bench_claims_{uuid.uuid4().hex[:8]}"
    password = settings.postgres_password or None
    host = settings.postgres_host or "127.0.0.1"
    await ensure_database(host, settings.postgres_port, settings.postgres_user, database, password=password)
    dsn = settings.model_copy(update={"postgres_db": database, "postgres_host": host}).postgres_dsn
    pool = await create_pool(dsn, max_size=CLAIMERS + 1)
    outcomes = []
    try:
        await migrate(pool)
        store = JobStore(pool)

        async def new() -> uuid.UUID | None:
            claim = await store.claim("bench", 300)
            return claim.job.id if claim else None

        async def old() -> uuid.UUID | None:
            return await pool.fetchval(OLD_CLAIM, uuid.uuid4(), "bench", 300.0)

        queries: list[tuple[str, Claimer]] = [("claim (002: queued index)", new)]
        if compare:
            queries.append(("claim (001: OR + sort)", old))
        for name, claim in queries:
            print(f"loading {FINISHED:,} finished and {QUEUED:,} queued jobs for {name} ...", flush=True)
            await load(pool)
            outcomes.append(await run(name, pool, claim, window))
    finally:
        await pool.close()
        conn = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await conn.close()
    return outcomes


def report(outcomes: list[Outcome]) -> str:
    rows = [
        [
            o.name,
            f"{o.claims:,}",
            f"{o.seconds:.1f}",
            f"{o.rate:,.0f}",
            f"{statistics.median(o.latencies_ms):.1f}",
            f"{statistics.quantiles(o.latencies_ms, n=100)[98]:.1f}",
            o.claimed_twice,
            o.max_attempts,
        ]
        for o in outcomes
    ]
    head = ["query", "claims", "s", "claims/s", "p50 ms", "p99 ms", "claimed twice", "max attempts"]
    return table(head, rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="claiming window per query (default 10)")
    parser.add_argument("--no-compare", action="store_true", help="skip the old query")
    args = parser.parse_args()
    results = asyncio.run(main(args.seconds, not args.no_compare))
    print(report(results))
    ours = results[0]
    ok = ours.rate >= TARGET and all(o.claimed_twice == 0 and o.max_attempts <= 1 for o in results)
    print(f"\ntarget >= {TARGET:,.0f} claims/s, nothing claimed twice: {'met' if ok else 'MISSED'}")
    raise SystemExit(0 if ok else 1)
