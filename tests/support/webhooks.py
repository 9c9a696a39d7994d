"""The webhook outbox driven directly: jobs finished with a delivery waiting, a sender on them, their attempts."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from app.db import JobStore, Webhook, WebhookFor, WebhookOutbox
from app.domain.jobs import Job, JobRow
from app.domain.spec import JobSpec
from app.net.webhooks import WebhookSender
from tests.conftest import WEBHOOK_SECRET
from tests.support.results import sample_result


@contextlib.asynccontextmanager
async def sending(store: JobStore, **options: Any) -> AsyncIterator[WebhookSender]:
    """A running sender with a quick poll; `options` override its defaults (allow_private, schedule, ...)."""
    sender = WebhookSender(
        WebhookOutbox(store.pool), secret=WEBHOOK_SECRET, **{"allow_private": True, "poll_seconds": 0.05, **options}
    )
    sender.start()
    try:
        yield sender
    finally:
        await sender.stop()


def announce(event_type: str) -> WebhookFor:
    """A webhook_for that announces the job's final row to its webhook_url, as the runner does."""

    def build(job: JobRow) -> Webhook:
        assert job.spec.webhook_url is not None
        payload = {"type": event_type, "data": Job.of(job).model_dump(mode="json")}
        return Webhook(event_type, job.spec.webhook_url, payload)

    return build


async def finished_job(store: JobStore, url: str) -> uuid.UUID:
    """A job that completed and left a pending job.completed delivery to `url` in the outbox."""
    job, _ = await store.create(JobSpec(input_path="talk.mp4", webhook_url=url))
    claim = await store.claim("webhook-test", 30)
    assert claim is not None and claim.job.id == job.id
    done = await store.finish(
        job.id, claim.token, "completed", result=sample_result(duration=15.0), webhook_for=announce("job.completed")
    )
    assert done is not None
    return job.id


async def wait_delivery(store: JobStore, job_id: uuid.UUID, *, tries: int, timeout: float = 15.0) -> dict[str, Any]:
    """The job's only delivery, once it has `tries` recorded attempts."""
    deadline = time.monotonic() + timeout
    while True:
        deliveries = await WebhookOutbox(store.pool).deliveries(job_id)
        assert len(deliveries) <= 1, deliveries
        if deliveries and len(deliveries[0]["tries"]) >= tries:
            return deliveries[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"delivery of {job_id} did not reach {tries} attempts in {timeout} s: {deliveries}")
        await asyncio.sleep(0.02)
