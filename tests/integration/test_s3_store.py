"""The S3 store against a real S3-compatible server: S3 sources in, reels out, workers that share no disk."""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.config import Settings
from app.storage import S3Location, open_media
from tests.conftest import Infra, make_settings, running_service
from tests.support.jobs import QUICK_ENCODE, wait_final
from tests.support.media import make_source
from tests.support.processes import Process, env_for
from tests.support.s3 import S3Server
from tests.support.throttle import throttled_proxy

HIGHLIGHTS = [{"start_time": 2, "end_time": 17, "score": 0.8}]
# What a completed job of exact client ranges publishes (nothing decoded, so no features): the Studio's files too.
PUBLISHED = (".analysis.json", ".filmstrip.jpg", ".jpg", ".mp4", ".source")


def published(*job_ids: str) -> list[str]:
    """The keys of every file these jobs publish, in the order the bucket lists them."""
    return sorted(f"svc/reels/{job_id}{suffix}" for job_id in job_ids for suffix in PUBLISHED)


@pytest.fixture
def buckets(s3_server: S3Server) -> tuple[str, str]:
    """A bucket of sources the service may read, and the store's own bucket, fresh for each test."""
    inputs, store = f"in-{uuid.uuid4().hex[:10]}", f"reels-{uuid.uuid4().hex[:10]}"
    for bucket in (inputs, store):
        s3_server.client.create_bucket(Bucket=bucket)
    return inputs, store


def s3_settings(infra: Infra, root: Path, s3: S3Server, buckets: tuple[str, str], **extra: object) -> Settings:
    inputs, store = buckets
    values: dict[str, object] = {
        "storage_url": f"s3://{store}/svc",
        "s3_endpoint_url": s3.endpoint,
        "input_s3_allow": [f"s3://{inputs}/videos/"],
    }
    return make_settings(infra, root, **(values | extra))


def put_source(s3: S3Server, bucket: str, key: str, tmp: Path) -> bytes:
    source = make_source(tmp / "source.mp4", seconds=20)
    data = source.read_bytes()
    s3.client.put_object(Bucket=bucket, Key=key, Body=data)
    source.unlink()
    return data


async def test_s3_source_to_s3_store_completes_and_presigned_download_is_exact(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    inputs, store = buckets
    put_source(s3_server, inputs, "videos/talk.mp4", tmp_path)
    public = s3_server.endpoint.replace("127.0.0.1", "localhost")  # the name clients use for the S3 server
    settings = s3_settings(
        infra,
        tmp_path / "svc",
        s3_server,
        buckets,
        public_base_url="https://reels.example",
        s3_public_endpoint_url=public,
    )
    async with running_service(settings) as client:
        response = await client.post(
            "/jobs",
            json={"input_url": f"s3://{inputs}/videos/talk.mp4", "highlights": HIGHLIGHTS, "output": QUICK_ENCODE},
        )
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        done = await wait_final(client, job_id)
        assert done["status"] == "completed", done["error"]
        result = done["result"]
        assert result["output_path"] is None  # a server path means nothing to a client of object storage
        assert result["output_url"] == f"https://reels.example/jobs/{job_id}/output"
        assert s3_server.keys(store) == published(job_id)
        stored = s3_server.body(store, f"svc/reels/{job_id}.mp4")
        assert hashlib.sha256(stored).hexdigest() == result["output_sha256"]

        redirect = await client.get(f"/jobs/{job_id}/output")
        assert redirect.status_code == 307 and redirect.headers["location"].startswith(public + "/")
        async with httpx.AsyncClient() as outside:
            download = await outside.get(redirect.headers["location"])
        assert download.status_code == 200
        assert download.content == stored
        assert f'filename="{job_id}.mp4"' in download.headers["content-disposition"]
        poster = await client.get(f"/jobs/{job_id}/thumbnail")
        assert poster.status_code == 307
        async with httpx.AsyncClient() as outside:
            jpeg = await outside.get(poster.headers["location"])
        assert jpeg.content == s3_server.body(store, f"svc/reels/{job_id}.jpg") and jpeg.content[:2] == b"\xff\xd8"
    assert not list((settings.temp_dir / "jobs").glob("*/*")), "the staged source and reel are removed"


async def test_input_url_outside_the_allow_list_or_inside_the_store_is_refused_at_submit(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    inputs, store = buckets
    settings = s3_settings(infra, tmp_path, s3_server, buckets)
    async with running_service(settings, run_worker=False) as client:
        for url in (f"s3://{inputs}/elsewhere/a.mp4", f"s3://{store}/svc/reels/x.mp4", "s3://other/videos/a.mp4"):
            response = await client.post("/jobs", json={"input_url": url})
            assert response.status_code == 422, url
            assert response.json()["code"] == "input_url_not_allowed"
        response = await client.post("/jobs", json={"input_path": "a.mp4"})
        assert response.json()["code"] == "input_path_unavailable"


async def test_missing_s3_source_fails_with_input_not_found(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    inputs, _ = buckets
    settings = s3_settings(infra, tmp_path, s3_server, buckets)
    async with running_service(settings) as client:
        response = await client.post("/jobs", json={"input_url": f"s3://{inputs}/videos/none.mp4"})
        done = await wait_final(client, response.json()["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "input_not_found"


@pytest.mark.slow
async def test_two_workers_with_no_shared_disk_complete_jobs(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    inputs, store = buckets
    put_source(s3_server, inputs, "videos/talk.mp4", tmp_path)
    api_settings = s3_settings(infra, tmp_path / "api", s3_server, buckets)
    workers = []
    for name in ("w1", "w2"):
        # Each worker has its own media, output and temp directories: nothing on disk is shared.
        own = s3_settings(infra, tmp_path / name, s3_server, buckets)
        env = env_for(own, WORKER_CONCURRENCY="1", LEASE_SECONDS="10")
        workers.append(Process("worker", env, tmp_path / f"{name}.log").start())
    try:
        async with running_service(api_settings, run_worker=False) as client:
            ids = []
            for _ in range(2):
                response = await client.post(
                    "/jobs",
                    json={
                        "input_url": f"s3://{inputs}/videos/talk.mp4",
                        "highlights": HIGHLIGHTS,
                        "output": QUICK_ENCODE,
                    },
                )
                ids.append(response.json()["id"])
            finals = await asyncio.gather(*(wait_final(client, i, timeout=180) for i in ids))
            assert [f["status"] for f in finals] == ["completed", "completed"], [w.tail() for w in workers]
        assert s3_server.keys(store, "svc/reels/") == published(*ids)
        conn = await asyncpg.connect(
            host=infra.pg_host,
            port=infra.pg_port,
            user=infra.pg_user,
            database=infra.database,
            password=infra.pg_password or None,
        )
        try:
            owners = {
                r["lease_owner"]
                for r in await conn.fetch(
                    "SELECT lease_owner FROM jobs WHERE id = ANY($1)", [uuid.UUID(i) for i in ids]
                )
            }
        finally:
            await conn.close()
        assert len(owners) == 2, "each worker ran one of the jobs"
    finally:
        for w in workers:
            w.kill_group()


async def test_upload_to_the_s3_store_feeds_a_job(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    _, store = buckets
    data = make_source(tmp_path / "talk.mp4", seconds=20).read_bytes()
    settings = s3_settings(infra, tmp_path / "svc", s3_server, buckets)
    async with running_service(settings) as client:
        upload = (await client.post("/uploads", content=data)).json()
        assert s3_server.body(store, f"svc/uploads/{upload['upload_id']}") == data
        body = {"input_upload": upload["upload_id"], "highlights": HIGHLIGHTS, "output": QUICK_ENCODE}
        done = await wait_final(client, (await client.post("/jobs", json=body)).json()["id"])
        assert done["status"] == "completed", done["error"]
    assert not list(settings.temp_dir.rglob("*.part")) and not (settings.data_dir / "uploads").exists()


@pytest.mark.slow
async def test_worker_killed_mid_staging_and_mid_upload_resumes_elsewhere_with_one_reel(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    inputs, store = buckets
    source_size = len(put_source(s3_server, inputs, "videos/talk.mp4", tmp_path))
    api_settings = s3_settings(infra, tmp_path / "api", s3_server, buckets)
    # Every transfer a worker makes crawls (about 3 s for the source), so a kill lands in the middle of one.
    async with throttled_proxy(s3_server.port, rate=source_size / 3) as proxy:

        def worker(name: str) -> tuple[Process, Path]:
            own = s3_settings(infra, tmp_path / name, s3_server, buckets, s3_endpoint_url=proxy.endpoint)
            env = env_for(own, WORKER_CONCURRENCY="1", LEASE_SECONDS="5")
            return Process("worker", env, tmp_path / f"{name}.log").start(), own.temp_dir

        workers: list[Process] = []
        try:
            async with running_service(api_settings, run_worker=False) as client:
                body = {"input_url": f"s3://{inputs}/videos/talk.mp4", "highlights": HIGHLIGHTS, "output": QUICK_ENCODE}
                job_id = (await client.post("/jobs", json=body)).json()["id"]
                first, first_tmp = worker("w1")
                workers.append(first)
                seen: dict[str, object] = {}

                async def staging_half_way() -> bool:
                    seen.update((await client.get(f"/jobs/{job_id}")).json())
                    return seen["stage"] == "fetch" and 0 < float(seen["progress"]) < 0.04  # type: ignore[arg-type]

                await until(staging_half_way, "the source half staged", first)
                first.kill_group()  # kill -9 with the source half downloaded
                assert not (first_tmp / "jobs" / job_id / "source").exists(), "the kill came too late"

                proxy.watch = f"/svc/reels/{job_id}.mp4".encode()
                second, second_tmp = worker("w2")
                workers.append(second)

                async def uploading_reel() -> bool:
                    return proxy.sent_after_watch > 4096

                await until(uploading_reel, "the reel's upload under way", second, timeout=180)
                second.kill_group()  # kill -9 with the reel's upload under way
                reels = s3_server.keys(store, "svc/reels/")
                assert f"svc/reels/{job_id}.mp4" not in reels, "the kill came after the upload"
                shutil.rmtree(second_tmp)  # and its machine gone: the next worker has nothing of it on disk

                proxy.rate = 1e12
                third, _ = worker("w3")
                workers.append(third)
                done = await wait_final(client, job_id, timeout=180)
                assert done["status"] == "completed", (done["error"], third.tail())
                assert done["attempts"] >= 3
                events = (await client.get(f"/jobs/{job_id}/events")).json()
                assert [e["attempt"] for e in events if e["stage"] == "fetch" and e["event"] == "end"] == [2, 3]
        finally:
            for w in workers:
                w.kill_group()
    assert s3_server.keys(store, "svc/reels/") == published(job_id)
    assert not s3_server.client.list_multipart_uploads(Bucket=store).get("Uploads")
    reel = s3_server.body(store, f"svc/reels/{job_id}.mp4")
    assert hashlib.sha256(reel).hexdigest() == done["result"]["output_sha256"]


async def until(check: Callable[[], Awaitable[bool]], what: str, worker: Process, timeout: float = 60) -> None:
    """Poll `check` until it holds; fail naming `what`, with the worker's log."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"never saw {what}: {worker.tail()}"
        await asyncio.sleep(0.02)


async def test_a_multipart_upload_left_by_a_killed_worker_is_aborted_by_the_next_publish(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    _, store_bucket = buckets
    job_id = str(uuid.uuid4())
    key = f"svc/reels/{job_id}.mp4"
    # What a worker killed mid-upload leaves: a multipart upload with a part stored, never completed or aborted.
    left = s3_server.client.create_multipart_upload(Bucket=store_bucket, Key=key)["UploadId"]
    s3_server.client.upload_part(Bucket=store_bucket, Key=key, UploadId=left, PartNumber=1, Body=b"x" * 1024)
    reel = tmp_path / "reel.mp4"
    reel.write_bytes(b"reel" * 1000)
    async with open_media(s3_settings(infra, tmp_path, s3_server, buckets)) as media:
        await media.store.publish(job_id, "reel", reel)
    assert not s3_server.client.list_multipart_uploads(Bucket=store_bucket).get("Uploads")
    assert s3_server.keys(store_bucket, "svc/reels/") == [key]
    assert s3_server.body(store_bucket, key) == reel.read_bytes()


async def test_the_studio_files_are_objects_and_a_job_based_on_another_reads_them_back(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    inputs, store = buckets
    source = put_source(s3_server, inputs, "videos/talk.mp4", tmp_path)
    async with running_service(s3_settings(infra, tmp_path / "svc", s3_server, buckets)) as client:
        base_id = (await client.post("/jobs", json={"input_url": f"s3://{inputs}/videos/talk.mp4"})).json()["id"]
        assert (await wait_final(client, base_id, timeout=60))["status"] == "completed"
        analysis = (await client.get(f"/jobs/{base_id}/analysis")).json()
        assert analysis["analysed"] and analysis["source"]["playable"]
        for path in ("source", "filmstrip"):  # a <video> and an <img> follow the redirect to a presigned URL
            redirect = await client.get(f"/jobs/{base_id}/{path}")
            assert redirect.status_code == 307 and f"svc/reels/{base_id}." in redirect.headers["location"], path
        assert s3_server.body(store, f"svc/reels/{base_id}.source") == source

        body = {"based_on": base_id, "highlights": HIGHLIGHTS, "output": {"snap_edges": True}}
        job_id = (await client.post("/jobs", json=body)).json()["id"]
        job = await wait_final(client, job_id, timeout=60)
        assert job["status"] == "completed", job["error"]
        events = {(e["stage"], e["event"]) for e in (await client.get(f"/jobs/{job_id}/events")).json()}
        assert ("analyze", "reuse") in events  # the features came back from the store: nothing decoded
    assert s3_server.body(store, f"svc/reels/{job_id}.source") == source  # copied inside the bucket


async def test_a_copy_inside_the_bucket_goes_in_parts_when_large_and_says_when_there_is_nothing(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str]
) -> None:
    _, store = buckets
    large = random.Random(7).randbytes(11 << 20)
    s3_server.client.put_object(Bucket=store, Key="svc/reels/a.source", Body=large)
    async with open_media(s3_settings(infra, tmp_path, s3_server, buckets)) as media:
        assert media.objects is not None
        src, dest = S3Location(store, "svc/reels/a.source"), S3Location(store, "svc/reels/b.source")
        assert await media.objects.copy(src, dest, part=5 << 20)  # three parts, as a source over COPY_PART goes
        assert not await media.objects.copy(S3Location(store, "svc/reels/gone.source"), dest)
    assert s3_server.body(store, "svc/reels/b.source") == large
    assert not s3_server.client.list_multipart_uploads(Bucket=store).get("Uploads")
