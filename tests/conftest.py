"""Shared fixtures: real PostgreSQL and Redis (the machine's when configured, else embedded), real ffmpeg."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from app.api.app import create_app
from app.config import Settings
from app.db import JobStore, create_pool
from tests.support.embedded_tmp import outside_pytest_root

pytest_plugins = ["tests.support.cache", "tests.support.s3"]

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass(frozen=True)
class Infra:
    """Where this test session's PostgreSQL database and Redis database are."""

    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    database: str
    redis_host: str
    redis_port: int
    redis_db: int
    redis_password: str = ""


def _worker_index() -> int:
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """A fresh database for this session (dropped at the end) and a Redis database of its own."""
    from app.ops.embedded import embedded_services, ensure_database

    env_pg, env_redis = os.environ.get("POSTGRES_HOST"), os.environ.get("REDIS_HOST")
    with contextlib.ExitStack() as stack:
        servers = None
        if not (env_pg and env_redis):
            home = stack.enter_context(contextlib.contextmanager(outside_pytest_root)())  # see embedded_tmp.py
            servers = stack.enter_context(embedded_services(home, postgres=not env_pg, redis=not env_redis))
        pg_host = env_pg or str(servers and servers.postgres_host)
        pg_port = int(os.environ.get("POSTGRES_PORT", 5432)) if env_pg else int(servers.postgres_port)  # type: ignore[union-attr,arg-type]
        pg_user = os.environ.get("POSTGRES_USER", "postgres")
        pg_password = os.environ.get("POSTGRES_PASSWORD", "") if env_pg else str(servers and servers.postgres_password)
        database = f"smartedit_test_{uuid.uuid4().hex[:10]}"
        asyncio.run(ensure_database(pg_host, pg_port, pg_user, database, password=pg_password or None))
        redis_host = env_redis or str(servers and servers.redis_host)
        redis_port = int(os.environ.get("REDIS_PORT", 6379)) if env_redis else int(servers.redis_port)  # type: ignore[union-attr,arg-type]
        redis_password = os.environ.get("REDIS_PASSWORD", "") if env_redis else str(servers and servers.redis_password)
        # The machine's Redis is shared: each xdist worker takes a database index of its own and flushes only it.
        redis_db = 8 + _worker_index()
        yield Infra(pg_host, pg_port, pg_user, pg_password, database, redis_host, redis_port, redis_db, redis_password)
        asyncio.run(drop_database(pg_host, pg_port, pg_user, pg_password, database))


@pytest.fixture(autouse=True)
def _no_job_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Cancel the jobs a test left queued in the session's database (or running with no live worker) once it ends.

    The tests of one xdist worker share a database: a job one test submits and does not wait for (a listing's,
    a refusal's) would otherwise be claimed and rendered by the next test whose service runs jobs, costing that
    test the time and CPU of a job it never asked for (the job-events test rendered two of the listing test's).
    Jobs a live worker holds (a module's service) are left to it.
    """
    yield
    if "infra" in request.fixturenames:
        # In a thread of its own: a test may leave an event loop running in this one (Playwright's sync API does).
        with ThreadPoolExecutor(max_workers=1) as thread:
            thread.submit(asyncio.run, _cancel_leftovers(request.getfixturevalue("infra"))).result()


async def _cancel_leftovers(infra: Infra) -> None:
    """`JobStore.request_cancel` each leftover; a plain connection finds them (mostly none: no pool for that)."""
    conn = await asyncpg.connect(
        host=infra.pg_host, port=infra.pg_port, user=infra.pg_user, password=infra.pg_password or None,
        database=infra.database,
    )  # fmt: skip
    try:
        # The jobs DELETE /jobs/{id} cancels outright: queued, or running with its lease lapsed.
        leftovers = await conn.fetch(
            "SELECT id FROM jobs "
            "WHERE status = 'queued' OR (status = 'running' AND coalesce(lease_expires_at < now(), true))"
        )
    except asyncpg.UndefinedTableError:
        return  # no service has migrated this session's database yet
    finally:
        await conn.close()
    if leftovers:
        settings = Settings(
            postgres_host=infra.pg_host, postgres_port=infra.pg_port, postgres_user=infra.pg_user,
            postgres_password=infra.pg_password, postgres_db=infra.database,
        )  # fmt: skip
        pool = await create_pool(settings.postgres_dsn, max_size=1)
        try:
            for row in leftovers:
                await JobStore(pool).request_cancel(row["id"])
        finally:
            await pool.close()


async def drop_database(host: str, port: int, user: str, password: str, database: str) -> None:
    """Drop `database`, closing whatever is still connected to it."""
    conn = await asyncpg.connect(host=host, port=port, user=user, password=password or None, database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


def make_settings(infra: Infra, root: Path, **overrides: object) -> Settings:
    """Settings for a service under `root`, against the session's databases."""
    for sub in ("media", "output", "tmp", "data"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    values: dict[str, object] = {
        "postgres_host": infra.pg_host,
        "postgres_port": infra.pg_port,
        "postgres_user": infra.pg_user,
        "postgres_password": infra.pg_password,
        "postgres_db": infra.database,
        "max_pool_size": 5,
        "redis_host": infra.redis_host,
        "redis_port": infra.redis_port,
        "redis_db": infra.redis_db,
        "redis_password": infra.redis_password,
        "media_root": root / "media",
        "output_root": root / "output",
        "temp_dir": root / "tmp",
        "data_dir": root / "data",
        "webhook_secret": WEBHOOK_SECRET,
        "webhook_allow_private": True,
        "poll_interval_seconds": 0.5,
        "lease_seconds": 10.0,
        "worker_concurrency": 1,
        # Tests poll as fast as 20 requests a second and share a Redis database: the rate limit has tests of its own.
        "rate_limit_per_minute": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(infra: Infra, tmp_path: Path) -> Settings:
    """Settings for one test's service, with its own media, output and temp directories."""
    return make_settings(infra, tmp_path)


@pytest.fixture
async def redis(infra: Infra) -> AsyncIterator[Redis]:
    """A client on the session's Redis database."""
    client = Redis(
        host=infra.redis_host, port=infra.redis_port, db=infra.redis_db, password=infra.redis_password or None
    )
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def running_service(settings: Settings, *, run_worker: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """The real app with its lifespan (pool, Redis, runner), reached in-process over ASGI."""
    app = create_app(settings, run_worker=run_worker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://smartedit.test") as client:
            yield client


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on a running service (API and runner)."""
    async with running_service(settings) as c:
        yield c
