"""Webhooks end to end: signed Standard Webhooks deliveries to a real local receiver, retried, recorded, guarded."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from standardwebhooks import Webhook as Verifier

from app.config import Settings
from app.db import JobStore, WebhookOutbox
from app.domain.spec import JobSpec
from tests.conftest import WEBHOOK_SECRET, Infra, make_settings, running_service
from tests.support.database import migrated_store, own_database
from tests.support.jobs import QUICK_ENCODE, submit, wait_final
from tests.support.media import make_source
from tests.support.receiver import Received, Receiver, Reply
from tests.support.results import sample_result
from tests.support.webhooks import announce, finished_job, sending, wait_delivery

verifier = Verifier(WEBHOOK_SECRET)


@pytest.fixture
async def settings(infra: Infra, tmp_path: Path) -> AsyncIterator[Settings]:
    """Settings on a database of this test's own, so the outbox and the queue hold only this test's rows."""
    async with own_database(infra, "smartedit_wh") as database:
        yield make_settings(infra, tmp_path, postgres_db=database)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[JobStore]:
    """The job store on the test's database, migrated."""
    async with migrated_store(settings) as migrated:
        yield migrated


def verified(request: Received) -> dict[str, Any]:
    """The request's payload, once its Standard Webhooks signature checks out (raises otherwise)."""
    payload: dict[str, Any] = verifier.verify(request.body, request.headers)
    return payload


def counted(outcome: str) -> float:
    """How many webhook attempts this process has counted with `outcome`."""
    value = REGISTRY.get_sample_value("video_processing_webhook_deliveries_total", {"outcome": outcome})
    return value or 0.0


def gaps(requests: Sequence[Received]) -> list[float]:
    """Seconds between consecutive arrivals."""
    return [b.arrived - a.arrived for a, b in zip(requests, requests[1:], strict=False)]


async def test_completed_job_sends_one_signed_job_completed_webhook_with_the_job_as_data(
    settings: Settings, store: JobStore
) -> None:
    make_source(settings.media_root / "talk.mp4", seconds=16)
    async with Receiver() as receiver, running_service(settings) as client:
        job = await submit(client, "talk.mp4", webhook_url=receiver.url(), output=QUICK_ENCODE)
        done = await wait_final(client, job["id"], timeout=60)
        assert done["status"] == "completed", done["error"]
        [request] = await receiver.wait_for(1)
        delivery = await wait_delivery(store, uuid.UUID(job["id"]), tries=1)
        shown = (await client.get(f"/jobs/{job['id']}")).json()
    assert len(receiver.requests) == 1
    assert request.method == "POST" and request.target == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] and request.headers["webhook-timestamp"]
    assert request.headers["webhook-signature"].startswith("v1,")
    payload = verified(request)
    assert payload["type"] == "job.completed"
    assert payload["data"] == shown
    assert payload["data"]["status"] == "completed" and payload["data"]["result"]["output_path"]
    assert delivery["event_type"] == "job.completed" and delivery["status"] == "delivered"
    assert [t["status_code"] for t in delivery["tries"]] == [200]


async def test_failed_job_sends_a_job_failed_webhook_saying_why(settings: Settings, store: JobStore) -> None:
    (settings.media_root / "noise.mp4").write_bytes(os.urandom(64 * 1024))
    async with Receiver() as receiver, running_service(settings) as client:
        job = await submit(client, "noise.mp4", webhook_url=receiver.url())
        done = await wait_final(client, job["id"], timeout=60)
        [request] = await receiver.wait_for(1)
        await wait_delivery(store, uuid.UUID(job["id"]), tries=1)
    assert done["status"] == "failed"
    payload = verified(request)
    assert payload["type"] == "job.failed"
    assert payload["data"]["status"] == "failed" and payload["data"]["result"] is None
    assert payload["data"]["error"] == done["error"] and done["error"]["message"]


async def test_cancelled_queued_job_sends_a_job_cancelled_webhook(settings: Settings, store: JobStore) -> None:
    make_source(settings.media_root / "talk.mp4", seconds=16)
    async with Receiver() as receiver:
        async with running_service(settings, run_worker=False) as client:
            job = await submit(client, "talk.mp4", webhook_url=receiver.url())
            for _ in range(2):  # a repeated cancel answers the same and announces nothing new
                cancelled = await client.delete(f"/jobs/{job['id']}")
                assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
        assert receiver.requests == []  # the API alone sends nothing: the outbox waits for a sender
        async with sending(store):
            [request] = await receiver.wait_for(1)
            delivery = await wait_delivery(store, uuid.UUID(job["id"]), tries=1)
    assert len(receiver.requests) == 1
    payload = verified(request)
    assert payload["type"] == "job.cancelled"
    assert payload["data"]["id"] == job["id"] and payload["data"]["status"] == "cancelled"
    assert delivery["status"] == "delivered"


async def test_receiver_failing_three_times_gets_four_signed_attempts_with_one_id(store: JobStore) -> None:
    schedule = (1.0, 2.0, 3.0)  # whole seconds: see test_sub_second_retry_delays_are_honoured
    async with Receiver([500, 500, 500], otherwise=200) as receiver:
        job_id = await finished_job(store, receiver.url())
        async with sending(store, schedule=schedule):
            requests = await receiver.wait_for(4)
            delivery = await wait_delivery(store, job_id, tries=4)
    assert len(receiver.requests) == 4
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert all(verified(r)["type"] == "job.completed" for r in requests)
    assert delivery["status"] == "delivered" and delivery["attempts"] == 4
    assert [t["status_code"] for t in delivery["tries"]] == [500, 500, 500, 200]
    assert [t["attempt"] for t in delivery["tries"]] == [1, 2, 3, 4]
    waited = gaps(requests)
    assert all(gap >= planned - 0.02 for gap, planned in zip(waited, schedule, strict=True)), waited
    assert waited[0] < waited[1] < waited[2], waited


async def test_sub_second_retry_delays_are_honoured(store: JobStore) -> None:
    async with Receiver([500], otherwise=200) as receiver:
        job_id = await finished_job(store, receiver.url())
        async with sending(store, schedule=(0.5,)):
            first, second = await receiver.wait_for(2)
            await wait_delivery(store, job_id, tries=2)
    assert second.arrived - first.arrived >= 0.48


async def test_delivery_past_the_last_retry_is_marked_failed_and_counted(store: JobStore) -> None:
    failed_before, retries_before = counted("failed"), counted("retry")
    async with Receiver(otherwise=503) as receiver:
        job_id = await finished_job(store, receiver.url())
        async with sending(store, schedule=(0.1, 0.2)):
            delivery = await wait_delivery(store, job_id, tries=3)
            await asyncio.sleep(0.5)  # past when a fourth attempt would come, were there one
    assert delivery["status"] == "failed"
    assert [t["status_code"] for t in delivery["tries"]] == [503, 503, 503]
    assert delivery["tries"][-1]["error"] == "HTTP 503"
    assert len(receiver.requests) == 3
    assert counted("failed") == failed_before + 1
    assert counted("retry") == retries_before + 2


async def test_pending_delivery_is_sent_by_a_new_sender_after_a_restart(store: JobStore) -> None:
    async with Receiver([500], otherwise=200) as receiver:
        job_id = await finished_job(store, receiver.url())
        async with sending(store, schedule=(1.0,)):
            await wait_delivery(store, job_id, tries=1)
        [pending] = await WebhookOutbox(store.pool).deliveries(job_id)
        assert pending["status"] == "pending"
        async with sending(store, schedule=(1.0,)):
            delivery = await wait_delivery(store, job_id, tries=2)
    assert delivery["status"] == "delivered"
    assert [t["status_code"] for t in delivery["tries"]] == [500, 200]
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    verified(second)


async def test_delivery_in_flight_when_the_sender_stops_is_finished_and_recorded(store: JobStore) -> None:
    async with Receiver([Reply(200, delay=0.5)]) as receiver:
        job_id = await finished_job(store, receiver.url())
        async with sending(store):
            await receiver.wait_for(1)
        # The sender stopped mid-request: the attempt must be on record, not hidden behind a lease.
        [delivery] = await WebhookOutbox(store.pool).deliveries(job_id)
    assert delivery["status"] == "delivered"
    assert [t["status_code"] for t in delivery["tries"]] == [200]


async def test_malformed_url_in_the_outbox_is_failed_once_not_retried_forever(store: JobStore) -> None:
    job_id = await finished_job(store, "http://127.0.0.1:99999/hook")  # written before check_url refused such URLs
    async with sending(store, schedule=(0.1, 0.1)):
        delivery = await wait_delivery(store, job_id, tries=1)
    assert delivery["status"] == "failed"
    assert "not a valid URL" in delivery["tries"][0]["error"]


async def test_redirect_is_not_followed_and_the_attempt_is_not_a_delivery(store: JobStore) -> None:
    async with Receiver() as elsewhere, Receiver(otherwise=Reply(302, {"location": elsewhere.url()})) as redirecting:
        job_id = await finished_job(store, redirecting.url())
        async with sending(store, schedule=(60,)):
            delivery = await wait_delivery(store, job_id, tries=1)
    assert elsewhere.requests == []
    assert len(redirecting.requests) == 1
    assert delivery["status"] == "pending"
    assert delivery["tries"][0]["status_code"] == 302
    assert delivery["tries"][0]["error"] == "HTTP 302"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_target_is_refused_without_a_request_and_marked_failed(store: JobStore, host: str) -> None:
    failed_before = counted("failed")
    async with Receiver() as receiver:
        job_id = await finished_job(store, f"http://{host}:{receiver.port}/hook")
        async with sending(store, allow_private=False):
            delivery = await wait_delivery(store, job_id, tries=1)
    assert receiver.requests == []
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    [attempt] = delivery["tries"]
    assert attempt["status_code"] is None
    assert "127.0.0.1" in attempt["error"] and "refused" in attempt["error"]
    assert counted("failed") == failed_before + 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/hook", "http://[::1/hook", "ftp://example.com/hook"])
async def test_unusable_webhook_url_is_a_422_at_submit(client: httpx.AsyncClient, settings: Settings, url: str) -> None:
    (settings.media_root / "talk.mp4").write_bytes(b"not checked at submit")
    response = await client.post("/jobs", json={"input_path": "talk.mp4", "webhook_url": url})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_webhook_url"


async def test_a_keys_webhooks_are_signed_with_its_own_secret_not_the_shared_one(
    settings: Settings, store: JobStore
) -> None:
    from standardwebhooks import WebhookVerificationError

    from app.net.webhooks import key_webhook_secret

    async with Receiver() as receiver:
        url = receiver.url() + "?token=abc"
        job, _ = await store.create(JobSpec(input_path="talk.mp4", webhook_url=url), client_id="0123456789abcdef")
        claim = await store.claim("webhook-test", 30)
        assert claim is not None and claim.job.id == job.id
        await store.finish(
            job.id, claim.token, "completed", result=sample_result(), webhook_for=announce("job.completed")
        )
        async with sending(store):
            [request] = await receiver.wait_for(1)
    assert request.target == "/hook?token=abc"  # delivered to the full URL ...
    own = Verifier(key_webhook_secret(WEBHOOK_SECRET, "0123456789abcdef"))
    payload = own.verify(request.body, request.headers)
    assert payload["data"]["webhook_url"] == receiver.url()  # ... shown without its query string
    with pytest.raises(WebhookVerificationError):
        verifier.verify(request.body, request.headers)  # the shared secret, or any other key's, does not verify
    with pytest.raises(WebhookVerificationError):
        Verifier(key_webhook_secret(WEBHOOK_SECRET, "fedcba9876543210")).verify(request.body, request.headers)
