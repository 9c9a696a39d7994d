"""Every response names its request: the X-Request-Id header, and `request_id` in every problem+json."""

from __future__ import annotations

import re

import httpx


async def test_a_problem_carries_the_request_id_of_its_response(client: httpx.AsyncClient) -> None:
    response = await client.post("/jobs", json={})
    assert response.status_code == 422
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert response.json()["request_id"] == response.headers["x-request-id"]
    other = await client.get("/jobs/00000000-0000-0000-0000-000000000000")
    assert other.status_code == 404 and other.json()["request_id"] == other.headers["x-request-id"]
    assert other.headers["x-request-id"] != response.headers["x-request-id"]


async def test_a_sane_client_request_id_is_kept_and_an_odd_one_replaced(client: httpx.AsyncClient) -> None:
    kept = await client.get("/healthz", headers={"X-Request-Id": "checkout-42.retry:1"})
    assert kept.status_code == 200 and kept.headers["x-request-id"] == "checkout-42.retry:1"
    for odd in ("x" * 65, "a b", "<script>"):
        replaced = await client.get("/jobs/not-a-uuid", headers={"X-Request-Id": odd})
        assert replaced.headers["x-request-id"] != odd
        assert replaced.json()["request_id"] == replaced.headers["x-request-id"]
