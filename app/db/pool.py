"""PostgreSQL plumbing: the pool, the migration runner, and what a lost connection looks like."""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import asyncpg

from app.ops.outages import CONNECTION_LOST, OneLineOutage

log = logging.getLogger(__name__)
# The pool's own retries of its minimum size during an outage: a line each, not a traceback.
logging.getLogger("asyncpg.pool").addFilter(OneLineOutage())


def _migrations_dir() -> Path:
    # A checkout keeps them beside the package; an installed wheel under <prefix>/share/smartedit.
    beside = Path(__file__).resolve().parents[2] / "migrations"
    return beside if beside.is_dir() else Path(sys.prefix) / "share" / "smartedit" / "migrations"


MIGRATIONS_DIR = _migrations_dir()
_MIGRATION_LOCK = 0x5E_DB_0001  # pg_advisory_lock key: one migrator at a time across all processes

Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy  # what pool.acquire() hands out


P = ParamSpec("P")
T = TypeVar("T")


def once_more_on_lost_connection(method: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    # For reads and fenced writes, which are safe to repeat, on stores that keep their pool as `.pool`.
    # The pool does not check a connection before lending it: after a server restart or
    # pg_terminate_backend every pooled connection is dead, so expire them all, then retry on a fresh one.
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except CONNECTION_LOST:
            log.warning("database connection lost during %s; retrying once", method.__name__)
            pool = getattr(args[0], "pool", None)
            if isinstance(pool, asyncpg.Pool):
                await pool.expire_connections()
            return await method(*args, **kwargs)

    return wrapper


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, max_size: int) -> asyncpg.Pool:
    """A pool whose connections speak jsonb as Python objects."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size, init=_init_connection)
    assert pool is not None
    return pool


async def migrate(pool: asyncpg.Pool, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply NNN_name.sql files not yet applied, in order, under an advisory lock; returns those applied."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for path in sorted(directory.glob("[0-9][0-9][0-9]_*.sql")):
                if path.stem in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", path.stem)
                applied.append(path.stem)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied
