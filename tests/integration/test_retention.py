"""Retention: expired reels and uploads deleted, jobs kept as completed with output_expired, old jobs purged."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from app.ai.ports import TranscriptKey
from app.db import create_pool
from app.db.retention import RetentionStore
from app.db.transcripts import PgTranscripts
from app.runner.retention import RetentionSweeper
from app.storage.local import LocalStore
from tests.conftest import Infra, make_settings, running_service
from tests.support.jobs import QUICK_ENCODE, wait_final
from tests.support.media import make_source

RUN = uuid.uuid4().hex[:8]
ALICE, BOB = f"alice-{RUN}", f"bob-{RUN}"
BODY = {"input_path": "small.mp4", "highlights": [{"start_time": 2, "end_time": 17}], "output": QUICK_ENCODE}


async def _connect(infra: Infra) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=infra.pg_host,
        port=infra.pg_port,
        user=infra.pg_user,
        password=infra.pg_password or None,
        database=infra.database,
    )


async def test_expired_reels_are_swept_deleted_on_request_and_old_jobs_purged(infra: Infra, tmp_path: Path) -> None:
    settings = make_settings(infra, tmp_path, api_keys=[ALICE, BOB])
    make_source(settings.media_root / "small.mp4", seconds=20)
    store = LocalStore(output_root=settings.output_root, uploads_root=settings.data_dir / "uploads")
    conn = await _connect(infra)
    try:
        async with running_service(settings) as client:
            client.headers["X-API-Key"] = ALICE
            first, second = [(await client.post("/jobs", json=BODY)).json()["id"] for _ in range(2)]
            done = [await wait_final(client, job_id) for job_id in (first, second)]
            assert [d["status"] for d in done] == ["completed", "completed"]
            assert done[0]["result"]["output_expired"] is False and done[0]["result"]["output_expires_at"]

            # The first reel's time is up; the second's is not.
            await conn.execute(
                'UPDATE jobs SET result = result || \'{"output_expires_at": "2000-01-01T00:00:00+00:00"}\' '
                "WHERE id = $1",
                uuid.UUID(first),
            )
            sweeper = RetentionSweeper(
                RetentionStore(await create_pool(settings.postgres_dsn, max_size=2)),
                store,
                output_ttl=settings.output_ttl,
                job_retention=settings.job_retention,
            )
            await sweeper.sweep()
            assert not store.reel_path(first).exists() and store.reel_path(second).exists()
            assert not store.reel_path(first, "thumbnail").exists() and store.reel_path(second, "thumbnail").exists()
            expired = (await client.get(f"/jobs/{first}")).json()
            assert expired["status"] == "completed" and expired["result"]["output_expired"] is True
            gone = await client.get(f"/jobs/{first}/output")
            assert gone.status_code == 410 and gone.json()["code"] == "output_expired"
            assert (await client.get(f"/jobs/{first}/thumbnail")).status_code == 410
            assert (await client.get(f"/jobs/{second}/output")).status_code == 200

            assert (await client.delete(f"/jobs/{second}/output", headers={"X-API-Key": BOB})).status_code == 404
            assert (await client.delete(f"/jobs/{second}/output")).status_code == 204
            assert not store.reel_path(second).exists()
            assert (await client.get(f"/jobs/{second}/output")).status_code == 410
            assert (await client.get(f"/jobs/{second}")).json()["result"]["output_expired"] is True

            # Past JOB_RETENTION: the jobs go, with their events; so do transcripts no job read for as long.
            await conn.execute(
                "UPDATE jobs SET finished_at = now() - interval '100 days' WHERE id = $1", uuid.UUID(first)
            )
            stale, fresh = f"stale-{RUN}", f"fresh-{RUN}"
            await conn.execute(
                "INSERT INTO transcripts (source_sha256, start_ms, end_ms, model, text, cues, used_at) VALUES "
                "($1, 0, 1000, 'm', 'said long ago', '[]', now() - interval '100 days'), "
                "($2, 0, 1000, 'm', 'said lately', '[]', now() - interval '100 days')",
                stale,
                fresh,
            )
            await PgTranscripts(sweeper.retention.pool).get(TranscriptKey(fresh, 0, 1000, "m"))  # read: in use
            await sweeper.sweep()
            kept = await conn.fetch(
                "SELECT source_sha256 FROM transcripts WHERE source_sha256 = ANY($1)", [stale, fresh]
            )
            assert [r["source_sha256"] for r in kept] == [fresh]
            assert (await client.get(f"/jobs/{first}")).status_code == 404
            assert await conn.fetchval("SELECT count(*) FROM job_events WHERE job_id = $1", uuid.UUID(first)) == 0
            assert (await client.get(f"/jobs/{second}")).status_code == 200
            await sweeper.retention.pool.close()
    finally:
        await conn.close()


async def test_expired_unused_uploads_go_and_an_upload_a_pending_job_uses_stays(infra: Infra, tmp_path: Path) -> None:
    settings = make_settings(infra, tmp_path, api_keys=[ALICE])
    store = LocalStore(output_root=settings.output_root, uploads_root=settings.data_dir / "uploads")
    conn = await _connect(infra)
    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=2)
    try:
        async with running_service(settings, run_worker=False) as client:
            client.headers["X-API-Key"] = ALICE
            unused, used = [(await client.post("/uploads", content=b"video" * 1000)).json()["upload_id"] for _ in "ab"]
            job = await client.post("/jobs", json={"input_upload": used})
            assert job.status_code == 202
            # Both are long past their time; only the one no pending job needs may go.
            await conn.execute(
                "UPDATE uploads SET expires_at = now() - interval '30 days', "
                "used_at = CASE WHEN used_at IS NULL THEN NULL ELSE now() - interval '30 days' END"
            )
            sweeper = RetentionSweeper(RetentionStore(pool), store, output_ttl=60, job_retention=3600)
            await sweeper.sweep()
            assert not store.upload_path(unused).exists() and store.upload_path(used).exists()
            refused = await client.post("/jobs", json={"input_upload": unused})
            assert refused.status_code == 422 and refused.json()["code"] == "upload_not_found"
    finally:
        await pool.close()
        await conn.close()
