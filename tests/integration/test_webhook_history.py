"""A job's webhooks through the API: each delivery and attempt shown to its owner, redelivered on request with its
webhook-id, and neither seen nor sent by another key."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook as Verifier

from app.api.deps import key_id
from app.config import Settings
from app.db import JobStore
from app.net.webhooks import key_webhook_secret
from tests.conftest import WEBHOOK_SECRET, Infra, make_settings, running_service
from tests.support.database import migrated_store, own_database
from tests.support.receiver import Receiver, Reply
from tests.support.webhooks import sending, wait_delivery

RUN = uuid.uuid4().hex[:8]
ALICE, BOB, ADMIN = f"alice-{RUN}", f"bob-{RUN}", f"admin-{RUN}"


@pytest.fixture
async def settings(infra: Infra, tmp_path: Path) -> AsyncIterator[Settings]:
    """Two keys and an admin, on a database of this test's own (its sender sends only this test's webhooks)."""
    async with own_database(infra, "smartedit_whh") as database:
        settings = make_settings(infra, tmp_path, postgres_db=database, api_keys=[ALICE, BOB], admin_api_keys=[ADMIN])
        (settings.media_root / "a.mp4").write_bytes(b"not decoded: no worker runs")
        yield settings


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[JobStore]:
    """The job store on the test's database, migrated."""
    async with migrated_store(settings) as migrated:
        yield migrated


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def submit(client: httpx.AsyncClient, key: str, **body: Any) -> str:
    """A queued job of `key`'s; its id."""
    response = await client.post("/jobs", json={"input_path": "a.mp4", **body}, headers=auth(key))
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


async def cancelled(client: httpx.AsyncClient, key: str, url: str) -> str:
    """A job of `key`'s cancelled while queued: its job.cancelled webhook to `url` waits in the outbox."""
    job_id = await submit(client, key, webhook_url=url)
    assert (await client.delete(f"/jobs/{job_id}", headers=auth(key))).status_code == 202
    return job_id


def problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code, response.text


async def test_the_owner_sees_every_attempt_and_a_redelivery_carries_the_same_webhook_id(
    settings: Settings, store: JobStore
) -> None:
    refusal = Reply(500, body=b'{"error": "signature mismatch"}')
    async with Receiver([refusal], otherwise=200) as receiver, running_service(settings, run_worker=False) as client:
        job = await cancelled(client, ALICE, receiver.url())
        async with sending(store, schedule=(0.1,)):
            await wait_delivery(store, uuid.UUID(job), tries=2)
            listed = await client.get(f"/jobs/{job}/webhooks", headers=auth(ALICE))
            redelivered = await client.post(f"/jobs/{job}/webhooks/redeliver", headers=auth(ALICE))
            await wait_delivery(store, uuid.UUID(job), tries=3)
        after = await client.get(f"/jobs/{job}/webhooks", headers=auth(ALICE))
    assert listed.status_code == 200, listed.text
    [delivery] = listed.json()
    assert delivery["event_type"] == "job.cancelled" and delivery["status"] == "delivered"
    assert delivery["delivered_at"] and delivery["next_attempt_at"] is None
    refused, accepted = delivery["attempts"]
    assert (refused["attempt"], refused["status_code"], refused["error"]) == (1, 500, "HTTP 500")
    assert refused["response_excerpt"] == '{"error": "signature mismatch"}'
    assert (accepted["attempt"], accepted["status_code"], accepted["error"]) == (2, 200, None)
    assert accepted["response_excerpt"] is None
    assert refused["created_at"] < accepted["created_at"] and all(a["duration_ms"] > 0 for a in (refused, accepted))

    assert redelivered.status_code == 202, redelivered.text
    assert redelivered.json()["id"] == delivery["id"] and redelivered.json()["status"] == "pending"
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery["webhook_id"]] * 3
    again = Verifier(key_webhook_secret(WEBHOOK_SECRET, key_id(ALICE))).verify(
        receiver.requests[2].body, receiver.requests[2].headers
    )
    assert again["type"] == "job.cancelled" and again["data"]["id"] == job
    [shown] = after.json()
    assert shown["status"] == "delivered"
    assert [(a["attempt"], a["status_code"]) for a in shown["attempts"]] == [(1, 500), (2, 200), (3, 200)]


async def test_another_keys_job_webhooks_are_not_found_and_an_admin_sees_and_redelivers_them(
    settings: Settings,
) -> None:
    async with running_service(settings, run_worker=False) as client:
        job = await cancelled(client, ALICE, "http://127.0.0.1:9/hook")  # no sender runs: it stays pending
        for method, path in (("GET", f"/jobs/{job}/webhooks"), ("POST", f"/jobs/{job}/webhooks/redeliver")):
            problem(await client.request(method, path, headers=auth(BOB)), 404, "job_not_found")
            problem(
                await client.request(method, path.replace(job, str(uuid.uuid4())), headers=auth(ALICE)),
                404,
                "job_not_found",
            )
            problem(
                await client.request(method, path.replace(job, "not-a-job"), headers=auth(ALICE)),
                422,
                "invalid_request",
            )
            problem(await client.request(method, path), 401, "unauthorized")
        seen = await client.get(f"/jobs/{job}/webhooks", headers=auth(ADMIN))
        redelivered = await client.post(f"/jobs/{job}/webhooks/redeliver", headers=auth(ADMIN))
    assert seen.status_code == 200, seen.text
    [delivery] = seen.json()
    assert delivery["status"] == "pending" and delivery["attempts"] == [] and delivery["next_attempt_at"]
    assert redelivered.status_code == 202 and redelivered.json()["webhook_id"] == delivery["webhook_id"]


async def test_redeliver_is_refused_while_there_is_nothing_to_send_again(settings: Settings, store: JobStore) -> None:
    answer = asyncio.Event()
    async with (
        Receiver(otherwise=Reply(200, until=answer)) as receiver,
        running_service(settings, run_worker=False) as client,
    ):
        plain = await submit(client, ALICE)
        problem(await client.post(f"/jobs/{plain}/webhooks/redeliver", headers=auth(ALICE)), 404, "webhook_not_found")
        assert (await client.get(f"/jobs/{plain}/webhooks", headers=auth(ALICE))).json() == []
        queued = await submit(client, ALICE, webhook_url=receiver.url())
        problem(await client.post(f"/jobs/{queued}/webhooks/redeliver", headers=auth(ALICE)), 409, "webhook_not_sent")
        assert (await client.delete(f"/jobs/{queued}", headers=auth(ALICE))).status_code == 202
        try:
            async with sending(store):
                await receiver.wait_for(1)  # the attempt is held open by the receiver
                in_flight = await client.post(f"/jobs/{queued}/webhooks/redeliver", headers=auth(ALICE))
                answer.set()
                delivery = await wait_delivery(store, uuid.UUID(queued), tries=1)
        finally:
            answer.set()
    problem(in_flight, 409, "webhook_in_flight")
    assert delivery["status"] == "delivered" and len(receiver.requests) == 1
