"""Idempotency-Key through the API: a retried submit returns the first job; the key is per client."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from tests.conftest import Infra, make_settings, running_service
from tests.support.jobs import wait_final

# Random bytes: the runner fails such a job within a second, so no test leaves work behind it.
SOURCE = "noise.mp4"


def write_source(media_root: Path) -> None:
    """A file the API accepts at submit and the runner rejects fast."""
    (media_root / SOURCE).write_bytes(os.urandom(32 * 1024))


@pytest.fixture
def source(settings: Settings) -> str:
    write_source(settings.media_root)
    return SOURCE


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], *, key: str | None, api_key: str | None = None
) -> httpx.Response:
    """POST /jobs with an optional Idempotency-Key and API key."""
    headers = {}
    if key is not None:
        headers["Idempotency-Key"] = key
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    return await client.post("/jobs", json=body, headers=headers)


async def settle(client: httpx.AsyncClient, job_ids: set[str], api_key: str | None = None) -> None:
    """Wait until the runner is done with these jobs, so none is left half-run for the next test."""
    if api_key is not None:
        client.headers["Authorization"] = f"Bearer {api_key}"
    for job_id in job_ids:
        await wait_final(client, job_id, timeout=60)


async def test_same_key_and_body_sent_concurrently_make_one_job(client: httpx.AsyncClient, source: str) -> None:
    body = {"input_path": source, "highlights": [{"start_time": 0, "end_time": 15}]}
    responses = await asyncio.gather(*(post(client, body, key="order-42") for _ in range(10)))
    assert [r.status_code for r in responses] == [202] * 10, [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    assert {r.headers["location"] for r in responses} == {f"/jobs/{ids.pop()}"}
    again = await post(client, body, key="order-42")
    assert again.status_code == 202 and again.json()["id"] == responses[0].json()["id"]
    await settle(client, {responses[0].json()["id"]})


async def test_same_key_with_another_body_is_a_422_problem(client: httpx.AsyncClient, source: str) -> None:
    first = await post(client, {"input_path": source}, key="reused")
    assert first.status_code == 202, first.text
    # Naming a default is the same request: a client that adds `render: auto` on retry gets its job back.
    same = await post(client, {"input_path": source, "output": {"render": "auto"}}, key="reused")
    assert same.status_code == 202 and same.json()["id"] == first.json()["id"], same.text
    other = await post(client, {"input_path": source, "output": {"crf": 23}}, key="reused")
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    problem = other.json()
    assert problem["code"] == "idempotency_key_reused" and problem["status"] == 422
    assert "Idempotency-Key" in problem["detail"]
    await settle(client, {first.json()["id"]})


async def test_different_keys_make_different_jobs(client: httpx.AsyncClient, source: str) -> None:
    body = {"input_path": source}
    first, second, unkeyed = await asyncio.gather(
        post(client, body, key="a-1"), post(client, body, key="a-2"), post(client, body, key=None)
    )
    assert [r.status_code for r in (first, second, unkeyed)] == [202] * 3, [r.text for r in (first, second, unkeyed)]
    ids = {r.json()["id"] for r in (first, second, unkeyed)}
    assert len(ids) == 3
    await settle(client, ids)


async def test_keys_are_per_client_and_a_request_without_an_api_key_is_401(infra: Infra, tmp_path: Path) -> None:
    settings = make_settings(infra, tmp_path, api_keys=["k1", "k2"])
    write_source(settings.media_root)
    body = {"input_path": SOURCE}
    async with running_service(settings) as client:
        one = await post(client, body, key="shared", api_key="k1")
        two = await post(client, body, key="shared", api_key="k2")
        one_again = await post(client, body, key="shared", api_key="k1")
        anonymous = await post(client, body, key="shared")
        wrong = await post(client, body, key="shared", api_key="k3")
        assert [r.status_code for r in (one, two, one_again)] == [202] * 3, [r.text for r in (one, two, one_again)]
        assert one.json()["id"] != two.json()["id"]
        assert one_again.json()["id"] == one.json()["id"]
        for refused in (anonymous, wrong):
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "unauthorized"
        await settle(client, {two.json()["id"]}, api_key="k2")  # each key sees only its own jobs
        await settle(client, {one.json()["id"]}, api_key="k1")
