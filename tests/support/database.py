"""A PostgreSQL database of one test's own: its queue holds only that test's jobs."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg

from app.config import Settings
from app.db import JobStore, create_pool, migrate
from app.ops.embedded import ensure_database
from tests.conftest import Infra


@contextlib.asynccontextmanager
async def own_database(infra: Infra, prefix: str) -> AsyncIterator[str]:
    """Create a database, yield its name, drop it."""
    database = f"{prefix}_{uuid.uuid4().hex[:10]}"
    password = infra.pg_password or None
    await ensure_database(infra.pg_host, infra.pg_port, infra.pg_user, database, password=password)
    try:
        yield database
    finally:
        conn = await asyncpg.connect(
            host=infra.pg_host, port=infra.pg_port, user=infra.pg_user, password=password, database="postgres"
        )
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await conn.close()


@contextlib.asynccontextmanager
async def migrated_store(settings: Settings) -> AsyncIterator[JobStore]:
    """The job store on `settings`' database, migrated; its pool closed afterwards."""
    pool = await create_pool(settings.postgres_dsn, max_size=4)
    await migrate(pool)
    try:
        yield JobStore(pool)
    finally:
        await pool.close()
