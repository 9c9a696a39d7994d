"""The S3 client as configured (retries, timeouts) and the multipart upload of a reel over 16 MiB, against moto's
server: a publisher killed -9 mid-upload leaves no object, a retry completes, and no part is kept."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError, ResponseStreamingError

from app.config import Settings
from app.runner.failures import Outcome, classify
from app.storage import open_media
from app.storage.base import S3Location
from app.storage.s3 import PART
from tests.conftest import Infra, make_settings
from tests.support.processes import Process, env_for
from tests.support.s3 import S3Server
from tests.support.tcp_proxy import Relay, TcpProxy, send
from tests.support.throttle import throttled_proxy
from tests.support.unreliable import unreliable_endpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """The store's bucket, fresh for each test."""
    name = f"reels-{uuid.uuid4().hex[:10]}"
    s3_server.client.create_bucket(Bucket=name)
    return name


def _settings(infra: Infra, root: Path, bucket: str, endpoint: str, **extra: object) -> Settings:
    return make_settings(infra, root, storage_url=f"s3://{bucket}/svc", s3_endpoint_url=endpoint, **extra)


def _parts_stored(s3: S3Server, bucket: str, key: str) -> int:
    uploads = s3.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return sum(
        len(s3.client.list_parts(Bucket=bucket, Key=key, UploadId=u["UploadId"]).get("Parts", []))
        for u in uploads
        if u["Key"] == key
    )


async def test_a_publisher_killed_mid_multipart_upload_leaves_no_object_and_a_retry_completes(
    infra: Infra, tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    reel = tmp_path / "reel.mp4"
    reel.write_bytes(os.urandom(PART + (1 << 20)))  # just over one part: a multipart upload of 16 + 1 MiB
    job_id = str(uuid.uuid4())
    key = f"svc/reels/{job_id}.mp4"

    # The proxy lets the first part through and holds the second back: the kill lands with one part stored and
    # the next on its way, however fast or slow this machine is.
    async with throttled_proxy(s3_server.port, rate=1e12) as proxy:
        proxy.watch, proxy.stall = b"partNumber=2", True
        env = env_for(_settings(infra, tmp_path / "first", bucket, proxy.endpoint))
        argv = [job_id, str(reel)]
        first = Process(argv, env, tmp_path / "first.log", cwd=ROOT, module="tests.support.publisher").start()
        try:
            await asyncio.wait_for(proxy.stalled.wait(), 120)
            assert _parts_stored(s3_server, bucket, key) == 1
        finally:
            first.kill_group()
    assert first.wait(10) == -signal.SIGKILL, first.tail()
    assert s3_server.keys(bucket) == [], "no object, not even a partial one, is visible"
    left = s3_server.client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in left] == [key], "the kill came in the middle of a multipart upload"

    # The retry: the next attempt at the job publishes the same reel to the same key.
    async with open_media(_settings(infra, tmp_path / "retry", bucket, s3_server.endpoint)) as media:
        await media.store.publish(job_id, "reel", reel)
    assert hashlib.sha256(s3_server.body(bucket, key)).digest() == hashlib.sha256(reel.read_bytes()).digest()
    assert s3_server.client.head_object(Bucket=bucket, Key=key)["ETag"].endswith('-2"'), "uploaded in two parts"
    assert not s3_server.client.list_multipart_uploads(Bucket=bucket).get("Uploads"), "the killed upload is aborted"


async def test_deleting_a_jobs_outputs_aborts_a_multipart_upload_a_killed_worker_left(
    infra: Infra, tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    job_id = str(uuid.uuid4())
    key = f"svc/reels/{job_id}.mp4"
    left = s3_server.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3_server.client.upload_part(Bucket=bucket, Key=key, UploadId=left, PartNumber=1, Body=b"x" * 1024)
    async with open_media(_settings(infra, tmp_path, bucket, s3_server.endpoint)) as media:
        await media.store.delete_outputs(job_id)
    assert not s3_server.client.list_multipart_uploads(Bucket=bucket).get("Uploads")


async def test_a_503_is_retried_until_s3_max_attempts(
    infra: Infra, tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    reel = tmp_path / "reel.mp4"
    reel.write_bytes(b"reel" * 256)
    async with unreliable_endpoint(s3_server.port) as endpoint:
        settings = _settings(infra, tmp_path, bucket, endpoint.url, s3_max_attempts=2)
        endpoint.failures = 1
        async with open_media(settings) as media:
            await media.store.publish("once", "reel", reel)
        assert endpoint.failures == 0 and s3_server.body(bucket, "svc/reels/once.mp4") == reel.read_bytes()

        endpoint.failures, endpoint.seen = 2, 0
        async with open_media(settings) as media:
            with pytest.raises(ClientError) as raised:
                await media.store.publish("twice", "reel", reel)
    assert raised.value.response["Error"]["Code"] == "SlowDown"
    assert endpoint.seen == 2, "two attempts, no more"
    assert s3_server.keys(bucket, "svc/reels/twice") == []


async def test_an_s3_endpoint_that_never_answers_times_out_on_each_attempt(
    infra: Infra, tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    reel = tmp_path / "reel.mp4"
    reel.write_bytes(b"reel" * 256)
    async with unreliable_endpoint(s3_server.port) as endpoint:
        endpoint.failures, endpoint.silent = 10, True
        settings = _settings(infra, tmp_path, bucket, endpoint.url, s3_max_attempts=2, s3_read_timeout_seconds=0.5)
        async with open_media(settings) as media:
            # Without the read timeout botocore would wait 60 s per attempt: the outer limit would fire first.
            with pytest.raises(ReadTimeoutError):
                await asyncio.wait_for(media.store.publish("silent", "reel", reel), 30)
    assert endpoint.seen == 2


async def test_an_edit_links_the_source_its_worker_published_or_downloaded_and_downloads_it_no_more(
    infra: Infra, tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    async with throttled_proxy(s3_server.port, rate=1e12) as proxy:
        # Any download of a job's file through this proxy never completes: what does complete came from the cache.
        proxy.watch, proxy.stall = f"GET /{bucket}/svc/reels/".encode(), True
        settings = _settings(infra, tmp_path / "w1", bucket, proxy.endpoint, source_cache_bytes=64 << 20)
        jobs = settings.temp_dir / "jobs"
        staged = jobs / "base" / "source"  # where a job stages an upload or a URL's source
        staged.parent.mkdir(parents=True)
        staged.write_bytes(os.urandom(3 << 20))
        async with open_media(settings) as media:
            await media.store.publish("base", "source", staged)  # the base job's end
            edit = await asyncio.wait_for(media.store.stage_output("base", "source", jobs / "edit"), 30)
            assert await media.store.share("edit", "source", "base")  # the edit publishes the source it read
            again = await asyncio.wait_for(media.store.stage_output("edit", "source", jobs / "again"), 30)
    assert not proxy.stalled.is_set(), "a job downloaded a source the worker had"
    assert edit is not None and again is not None
    assert edit.stat().st_ino == again.stat().st_ino == staged.stat().st_ino  # linked: not a byte copied

    # Another worker, whose cache is empty, downloads it once, then has it too.
    other = _settings(infra, tmp_path / "w2", bucket, s3_server.endpoint, source_cache_bytes=64 << 20)
    async with open_media(other) as media:
        first = await media.store.stage_output("edit", "source", other.temp_dir / "jobs" / "one")
        second = await media.store.stage_output("edit", "source", other.temp_dir / "jobs" / "two")
    assert first is not None and second is not None and first.read_bytes() == staged.read_bytes()
    assert first.stat().st_ino == second.stat().st_ino
    assert len(list((other.temp_dir / "cache" / "sources").iterdir())) == 1
    async with open_media(other.model_copy(update={"source_cache_bytes": 0})):  # restarted with the cache off
        assert list((other.temp_dir / "cache" / "sources").iterdir()) == []


@dataclass(kw_only=True)
class _BodyCut(TcpProxy):
    """Drops each connection once `keep` bytes of the server's answers have reached the client."""

    keep: int

    def relay(self) -> Relay:
        return _Cut(self.keep)


@dataclass
class _Cut(Relay):
    left: int

    async def down(self, chunk: bytes, to: asyncio.StreamWriter) -> None:
        if len(chunk) >= self.left:
            await send(chunk[: self.left], to)
            raise ConnectionResetError("cut mid-body")  # ends the connection, both sides closed
        self.left -= len(chunk)
        await send(chunk, to)


async def test_an_object_cut_short_mid_body_is_an_outage_of_the_store_not_a_fault(
    infra: Infra, tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    s3_server.client.put_object(Bucket=bucket, Key="svc/reels/cut.mp4", Body=os.urandom(1 << 20))
    async with _BodyCut(target=("127.0.0.1", s3_server.port), keep=64 << 10).running() as proxy:
        settings = _settings(infra, tmp_path, bucket, proxy.url)
        async with open_media(settings) as media:
            assert media.objects is not None
            with pytest.raises(ResponseStreamingError) as downloading:
                await media.objects.download(S3Location(bucket, "svc/reels/cut.mp4"), tmp_path / "staged.mp4")
            with pytest.raises(ResponseStreamingError) as reading:
                await media.store.read("cut", "reel")
    for cut in (downloading.value, reading.value):  # botocore's error, which every layer above knows
        assert classify(cut, "fetch").outcome is Outcome.HAND_BACK
    assert list(tmp_path.glob("*staged*")) == []  # nothing half-written is left
