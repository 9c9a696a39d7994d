"""Helpers to drive jobs through the API the way a client would."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

FINAL = {"completed", "failed", "cancelled"}

# A client's choice of libx264's quickest preset: for a test of something other than the encode. It costs
# about a fifth of the default's CPU, and, being a choice, turns smart render off for the job.
QUICK_ENCODE = {"preset": "ultrafast"}


async def submit(client: httpx.AsyncClient, input_path: str | None, **body: Any) -> dict[str, Any]:
    """POST /jobs and return the accepted job (`input_path` None: the source is in `body`)."""
    source = {} if input_path is None else {"input_path": input_path}
    response = await client.post("/jobs", json={**source, **body})
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/jobs/{response.json()['id']}"
    job: dict[str, Any] = response.json()
    return job


async def wait_final(client: httpx.AsyncClient, job_id: str, *, timeout: float = 240.0) -> dict[str, Any]:
    """Poll GET /jobs/{id} until the job reaches a final status."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/jobs/{job_id}")
        if response.status_code == 503 and time.monotonic() < deadline:  # retry, as Retry-After asks
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] in FINAL:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} at {job['stage']} after {timeout} s")
        await asyncio.sleep(0.2)
