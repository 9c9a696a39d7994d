"""A failed or cancelled job leaves nothing behind: its reel, poster and captions go from OUTPUT_ROOT or the
bucket as it ends, not JOB_RETENTION later."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from app.config import Settings
from app.db.retention import RetentionStore
from app.domain.spec import JobSpec
from app.runner.retention import RetentionSweeper
from app.storage.local import LocalStore
from tests.conftest import Infra, make_settings, running_service
from tests.support.database import migrated_store, own_database
from tests.support.jobs import submit, wait_final
from tests.support.media import ffmpeg, make_source
from tests.support.processes import Process, env_for
from tests.support.s3 import S3Server
from tests.support.throttle import throttled_proxy

SMALL = {"aspect_ratio": "source", "resolution": "source"}  # the reel at the source's own size: quick to render
CLIP = [{"start_time": 2, "end_time": 17}]
BEFORE_REEL = (".analysis.json", ".filmstrip.jpg", ".jpg", ".source")  # published before the reel, which goes last


@pytest.fixture
def buckets(s3_server: S3Server) -> tuple[str, str]:
    """A bucket of sources the service may read, and the store's own bucket, fresh for each test."""
    inputs, store = f"in-{uuid.uuid4().hex[:10]}", f"reels-{uuid.uuid4().hex[:10]}"
    for bucket in (inputs, store):
        s3_server.client.create_bucket(Bucket=bucket)
    return inputs, store


def _s3_settings(infra: Infra, root: Path, buckets: tuple[str, str], endpoint: str, **extra: object) -> Settings:
    inputs, store = buckets
    values = {"storage_url": f"s3://{store}/svc", "s3_endpoint_url": endpoint, "input_s3_allow": [f"s3://{inputs}/"]}
    return make_settings(infra, root, **(values | extra))


def _put_source(s3: S3Server, bucket: str, tmp: Path) -> str:
    source = make_source(tmp / "talk.mp4", seconds=20)
    s3.client.put_object(Bucket=bucket, Key="talk.mp4", Body=source.read_bytes())
    return f"s3://{bucket}/talk.mp4"


def _left_in_bucket(s3: S3Server, bucket: str) -> list[str]:
    uploads = s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return s3.keys(bucket, "svc/reels/") + [f"multipart upload of {u['Key']}" for u in uploads]


async def _marked(settings: Settings, job_id: str) -> bool:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        return bool(await conn.fetchval("SELECT discard_outputs FROM jobs WHERE id = $1", uuid.UUID(job_id)))
    finally:
        await conn.close()


async def _discarded(settings: Settings, job_id: str, *, timeout: float = 30.0) -> None:
    """Wait until the job's files are deleted and its mark cleared: a job's final status is visible a moment
    before the worker that wrote it has deleted its files (the mark is what lets a sweep finish that)."""
    async with asyncio.timeout(timeout):
        while await _marked(settings, job_id):
            await asyncio.sleep(0.1)


async def test_a_reel_that_fails_verify_leaves_nothing_in_output_root(infra: Infra, tmp_path: Path) -> None:
    settings = make_settings(infra, tmp_path)
    # Sparse clicks: loud enough to count as sound, too sparse to reach −16 LUFS: verify fails after correcting.
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25:duration=20",
        "-f", "lavfi", "-i", "aevalsrc=exprs='0.3*lt(mod(t\\,2)\\,0.001)':s=48000:d=20",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le", "-t", "20",
        str(settings.media_root / "clicks.mov"),
    )  # fmt: skip
    async with running_service(settings) as client:
        job = await wait_final(client, (await submit(client, "clicks.mov", output=SMALL))["id"], timeout=180)
        await _discarded(settings, job["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "quality_target_missed", job["error"]
    assert job["stage"] == "verify"  # the reel was written into OUTPUT_ROOT, and measured there
    assert list(settings.output_root.iterdir()) == []


async def test_a_job_cancelled_while_publishing_to_s3_leaves_nothing_in_the_bucket(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    inputs, store = buckets
    url = _put_source(s3_server, inputs, tmp_path)
    async with throttled_proxy(s3_server.port, rate=1e12) as proxy:
        settings = _s3_settings(infra, tmp_path, buckets, proxy.endpoint)
        async with running_service(settings) as client:
            response = await client.post("/jobs", json={"input_url": url, "highlights": CLIP, "output": SMALL})
            job_id = response.json()["id"]
            # The reel's upload is held back once it starts: the rest is published by then, the reel never.
            proxy.watch, proxy.stall = f"/svc/reels/{job_id}.mp4".encode(), True
            await asyncio.wait_for(proxy.stalled.wait(), 180)
            proxy.watch = None  # the deletions that follow go through
            assert s3_server.keys(store, "svc/reels/") == [f"svc/reels/{job_id}{s}" for s in BEFORE_REEL]

            cancelled = await client.delete(f"/jobs/{job_id}")
            assert cancelled.status_code == 202, cancelled.text
            done = await wait_final(client, job_id, timeout=60)
            await _discarded(settings, job_id)
    assert done["status"] == "cancelled"
    assert _left_in_bucket(s3_server, store) == []


@pytest.mark.slow
async def test_a_job_whose_worker_died_mid_publish_is_cancelled_with_its_files(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    inputs, store = buckets
    url = _put_source(s3_server, inputs, tmp_path)
    api_settings = _s3_settings(infra, tmp_path / "api", buckets, s3_server.endpoint)
    async with (
        throttled_proxy(s3_server.port, rate=1e12) as proxy,
        running_service(api_settings, run_worker=False) as api,
    ):
        response = await api.post("/jobs", json={"input_url": url, "highlights": CLIP, "output": SMALL})
        job_id = response.json()["id"]
        proxy.watch, proxy.stall = f"/svc/reels/{job_id}.mp4".encode(), True
        own = _s3_settings(infra, tmp_path / "worker", buckets, proxy.endpoint)
        worker = Process("worker", env_for(own, LEASE_SECONDS="2"), tmp_path / "worker.log").start()
        try:
            await asyncio.wait_for(proxy.stalled.wait(), 180)
        finally:
            worker.kill_group()  # kill -9 with all but the reel published and the reel on its way
        assert s3_server.keys(store, "svc/reels/") == [f"svc/reels/{job_id}{s}" for s in BEFORE_REEL], worker.tail()

        # Nobody will finish this job: once its lease lapses, the cancel ends it here, and takes its files.
        while (cancelled := (await api.delete(f"/jobs/{job_id}")).json())["status"] != "cancelled":
            assert cancelled["status"] == "running", cancelled
            await asyncio.sleep(0.2)
    assert _left_in_bucket(s3_server, store) == []
    assert not await _marked(api_settings, job_id)


async def test_files_left_by_a_process_killed_before_it_deleted_them_go_with_the_next_sweep(
    infra: Infra, tmp_path: Path
) -> None:
    async with own_database(infra, "leftovers") as database:
        settings = make_settings(infra, tmp_path, postgres_db=database)
        local = LocalStore(output_root=settings.output_root, uploads_root=settings.data_dir / "uploads")
        async with migrated_store(settings) as store:
            job, _ = await store.create(JobSpec(input_path="a.mp4"))
            claim = await store.claim("w", 30)
            assert claim is not None
            # The attempt wrote its reel and poster, then its failure, and was killed before deleting them.
            for what in ("reel", "thumbnail"):
                local.reel_path(str(job.id), what).write_bytes(b"left")
            error = {"code": "quality_target_missed", "message": "x"}
            assert await store.finish(job.id, claim.token, "failed", error=error) is not None
            assert await _marked(settings, str(job.id))

            await RetentionSweeper(RetentionStore(store.pool), local, output_ttl=60, job_retention=3600).sweep()
        assert list(settings.output_root.iterdir()) == []
        assert not await _marked(settings, str(job.id))
