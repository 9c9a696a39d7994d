"""Jobs run through outages of PostgreSQL, Redis and S3, each cut at a proxy while a job is running.

Whatever the outage hits (a lease renewal, a checkpoint, the reel's upload, the API's reads), every job
completes, exactly once, with one webhook; the API answers 503 meanwhile, never a 500; and the log tells of
each trouble in a line, without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import Infra, running_service
from tests.integration.test_s3_store import buckets, put_source, s3_settings
from tests.support.cuttable import cuttable
from tests.support.jobs import submit, wait_final
from tests.support.receiver import Receiver
from tests.support.s3 import S3Server, s3_server

__all__ = ["buckets", "s3_server"]  # fixtures

pytestmark = pytest.mark.xdist_group("outages")


async def wait_running(client: httpx.AsyncClient, job_id: str, *, timeout: float = 120.0) -> None:
    """Until the job is taken by the worker (or already past it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await client.get(f"/jobs/{job_id}")
        assert response.status_code in (200, 503), response.text
        if response.status_code == 200 and response.json()["status"] != "queued":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} still queued after {timeout} s")


async def delivered(client: httpx.AsyncClient, job_id: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The job's webhook deliveries, once none is pending (the receiver's answer is recorded after it arrives)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/jobs/{job_id}/webhooks")
        assert response.status_code == 200, response.text
        deliveries: list[dict[str, Any]] = response.json()
        if deliveries and all(d["status"] != "pending" for d in deliveries) or time.monotonic() > deadline:
            assert [d["status"] for d in deliveries] == ["delivered"], deliveries
            return deliveries
        await asyncio.sleep(0.1)


async def test_jobs_complete_once_with_one_webhook_through_postgres_redis_and_s3_outages(
    infra: Infra, tmp_path: Path, s3_server: S3Server, buckets: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    s3 = urlsplit(s3_server.endpoint)
    async with (
        cuttable(infra.pg_host, infra.pg_port) as pg,
        cuttable(infra.redis_host, infra.redis_port) as redis,
        cuttable(s3.hostname or "", s3.port or 80) as store,
        Receiver() as hooks,
    ):
        proxied = {"postgres_host": "127.0.0.1", "postgres_port": pg.port, "redis_host": "127.0.0.1"}
        proxied |= {"redis_port": redis.port, "s3_endpoint_url": store.url, "s3_max_attempts": 2}
        settings = s3_settings(infra, tmp_path, s3_server, buckets, **proxied)
        put_source(s3_server, buckets[0], "videos/talk.mp4", tmp_path)
        source, highlights = f"s3://{buckets[0]}/videos/talk.mp4", [{"start_time": 1.0, "end_time": 17.0}]
        async with running_service(settings) as client:
            ids = [
                (await submit(client, None, input_url=source, highlights=highlights, webhook_url=hooks.url()))["id"]
                for _ in range(3)
            ]
            await wait_running(client, ids[0])
            await pg.outage(at_least=5.0)
            # Job 1 cannot finish without both: its checkpoints and its reel's upload meet the outages.
            await wait_running(client, ids[1])
            await asyncio.gather(redis.outage(at_least=5.0), store.outage(at_least=5.0))
            finals = [await wait_final(client, job_id, timeout=240.0) for job_id in ids]
            assert [f["status"] for f in finals] == ["completed"] * 3, [f.get("error") for f in finals]
            assert pg.refused and redis.refused and store.refused

            received = await hooks.wait_for(3, timeout=60.0)
            payloads = [json.loads(r.body) for r in received]
            assert sorted(p["data"]["id"] for p in payloads) == sorted(ids)
            assert {p["type"] for p in payloads} == {"job.completed"}
            for job_id in ids:
                [delivery] = await delivered(client, job_id)
                assert len(delivery["attempts"]) == 1, delivery
            assert len(hooks.requests) == 3  # each delivered once: nothing is left to send again
            store.cut_off()  # the reel's store gone: the API says which service, and to retry
            response = await client.get(f"/jobs/{ids[0]}/output", follow_redirects=False)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "storage_unavailable" and response.headers["retry-after"]
            store.restore()
    # An outage is expected: each trouble is a line of its own, not a traceback.
    tracebacks = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.exc_info]
    assert tracebacks == []
    assert any("a service is down" in r.getMessage() for r in caplog.records)
