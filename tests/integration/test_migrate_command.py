"""`smartedit migrate`, what deploy/kubernetes/'s migrations Job runs: several at once on one new database."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg

from app.db import MIGRATIONS_DIR
from tests.conftest import Infra, make_settings
from tests.support.database import own_database
from tests.support.processes import env_for


async def test_three_migrate_jobs_at_once_apply_each_migration_once(infra: Infra, tmp_path: Path) -> None:
    async with own_database(infra, "migrate") as database:
        settings = make_settings(infra, tmp_path, postgres_db=database)
        env = env_for(settings, LOG_FORMAT="text")
        runs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app.cli",
                "migrate",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outputs = await asyncio.wait_for(asyncio.gather(*(run.communicate() for run in runs)), timeout=120)
        logs = [out.decode() for out, _ in outputs]
        assert [run.returncode for run in runs] == [0, 0, 0], logs
        expected = sorted(path.stem for path in MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql"))
        # One applied them all; the others waited on the lock and found nothing left.
        assert sum(expected[-1] in log for log in logs) == 1, logs
        assert sum("none pending" in log for log in logs) == 2, logs
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            versions = [row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")]
        finally:
            await conn.close()
        assert sorted(versions) == expected


async def test_migrate_without_a_database_host_says_so(tmp_path: Path) -> None:
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "migrate",
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await run.communicate()
    assert run.returncode == 1
    assert b"POSTGRES_HOST must be set" in err
