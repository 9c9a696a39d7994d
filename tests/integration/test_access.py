"""Who sees what, and how much one key may ask: ownership, admin keys, limits, per-key webhook secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from pathlib import Path
from typing import Any

import httpx

from app.net.webhooks import key_webhook_secret
from tests.conftest import WEBHOOK_SECRET, Infra, make_settings, running_service

# Fresh keys per test run: the session's database and Redis outlive each test, and counts are per key.
RUN = uuid.uuid4().hex[:8]
ALICE, BOB, ADMIN = f"alice-{RUN}", f"bob-{RUN}", f"admin-{RUN}"
Q1, Q2, R1, R2 = (f"{name}-{RUN}" for name in ("queue1", "queue2", "rate1", "rate2"))  # one limit test each
KEYS = [ALICE, BOB, Q1, Q2, R1, R2]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _service(infra: Infra, tmp_path: Path, **overrides: Any) -> Any:
    settings = make_settings(infra, tmp_path, api_keys=KEYS, admin_api_keys=[ADMIN], **overrides)
    # Submit only checks that the file exists; no worker runs, so the bytes never reach ffmpeg.
    (settings.media_root / "a.mp4").write_bytes(b"not decoded")
    return running_service(settings, run_worker=False)


async def _submit(client: httpx.AsyncClient, key: str, **body: Any) -> httpx.Response:
    return await client.post("/jobs", json={"input_path": "a.mp4", **body}, headers=_auth(key))


async def test_another_keys_job_is_a_404_on_get_events_list_and_cancel(infra: Infra, tmp_path: Path) -> None:
    async with _service(infra, tmp_path) as client:
        alice = await _submit(client, ALICE)
        assert alice.status_code == 202, alice.text
        job = alice.json()["id"]
        for method, path in (("GET", f"/jobs/{job}"), ("GET", f"/jobs/{job}/events"), ("DELETE", f"/jobs/{job}")):
            bob = await client.request(method, path, headers=_auth(BOB))
            assert bob.status_code == 404, (method, path, bob.text)
            assert bob.headers["content-type"] == "application/problem+json"
        bob_list = await client.get("/jobs", headers=_auth(BOB))
        assert bob_list.status_code == 200 and bob_list.json()["items"] == []
        # The owner still sees it, queued and not cancelled by bob's attempt.
        mine = await client.get(f"/jobs/{job}", headers=_auth(ALICE))
        assert mine.status_code == 200 and mine.json()["status"] == "queued"
        assert [j["id"] for j in (await client.get("/jobs", headers=_auth(ALICE))).json()["items"]] == [job]
        assert (await client.get(f"/jobs/{job}/events", headers=_auth(ALICE))).status_code == 200


async def test_an_admin_key_sees_and_cancels_every_job(infra: Infra, tmp_path: Path) -> None:
    async with _service(infra, tmp_path) as client:
        ids = {(await _submit(client, key)).json()["id"] for key in (ALICE, BOB)}
        listed = {j["id"] for j in (await client.get("/jobs", headers=_auth(ADMIN))).json()["items"]}
        assert ids <= listed  # the session's database also holds other tests' jobs
        job = next(iter(ids))
        assert (await client.get(f"/jobs/{job}", headers=_auth(ADMIN))).status_code == 200
        cancelled = await client.delete(f"/jobs/{job}", headers=_auth(ADMIN))
        assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"


async def test_queued_jobs_per_key_are_limited_with_a_429(infra: Infra, tmp_path: Path) -> None:
    async with _service(infra, tmp_path, max_queued_per_key=2) as client:
        accepted = [await _submit(client, Q1) for _ in range(2)]
        assert [r.status_code for r in accepted] == [202, 202], accepted[-1].text
        third = await _submit(client, Q1)
        assert third.status_code == 429, third.text
        assert third.headers["content-type"] == "application/problem+json"
        assert third.json()["code"] == "too_many_queued_jobs"
        # Another key has a queue of its own; a replay of an accepted request is not a new job.
        assert (await _submit(client, Q2)).status_code == 202
        first = await client.post(
            "/jobs", json={"input_path": "a.mp4"}, headers={**_auth(Q2), "Idempotency-Key": "k"}
        )
        assert first.status_code == 202
        again = await client.post(
            "/jobs", json={"input_path": "a.mp4"}, headers={**_auth(Q2), "Idempotency-Key": "k"}
        )
        assert again.status_code == 202 and again.json()["id"] == first.json()["id"]


async def test_too_many_highlights_is_a_422(infra: Infra, tmp_path: Path) -> None:
    async with _service(infra, tmp_path, max_highlights=3) as client:
        highlights = [{"start_time": i, "end_time": i + 1} for i in range(4)]
        response = await _submit(client, ALICE, highlights=highlights)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "too_many_highlights"
        assert (await _submit(client, ALICE, highlights=highlights[:3])).status_code == 202


async def test_max_highlights_above_a_hundred_is_honoured(infra: Infra, tmp_path: Path) -> None:
    async with _service(infra, tmp_path, max_highlights=150) as client:
        highlights = [{"start_time": i, "end_time": i + 1} for i in range(151)]
        assert (await _submit(client, ALICE, highlights=highlights[:150])).status_code == 202
        refused = await _submit(client, ALICE, highlights=highlights)
        assert refused.status_code == 422 and refused.json()["code"] == "too_many_highlights"


async def test_a_body_over_the_limit_is_a_413(infra: Infra, tmp_path: Path) -> None:
    async with _service(infra, tmp_path, max_body_bytes=2048) as client:
        big = {"input_path": "a.mp4", "webhook_url": "https://example.com/" + "x" * 4000}
        for headers in ({}, {"transfer-encoding": "chunked"}):
            response = await client.post("/jobs", json=big, headers={**_auth(ALICE), **headers})
            assert response.status_code == 413, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "body_too_large"


async def test_requests_per_key_per_minute_are_limited_with_retry_after(infra: Infra, tmp_path: Path) -> None:
    async with _service(infra, tmp_path, rate_limit_per_minute=5) as client:
        await client.get("/healthz")  # not counted: only API-key routes are
        # Fixed one-minute windows: a burst that straddles a minute's end passes the limit within one of the two,
        # so it meets the 429 by its eleventh request whenever it runs.
        codes = []
        for _ in range(2 * 5 + 1):
            limited = await client.get("/jobs", headers=_auth(R1))
            codes.append(limited.status_code)
            if limited.status_code != 200:
                break
        assert codes[:5] == [200] * 5 and 6 <= len(codes) <= 11, codes
        assert limited.status_code == 429, limited.text
        assert limited.headers["content-type"] == "application/problem+json"
        assert limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await client.get("/jobs", headers=_auth(R2))).status_code == 200


async def test_each_key_gets_its_own_webhook_secret(infra: Infra, tmp_path: Path) -> None:
    async with _service(infra, tmp_path) as client:
        secrets = {}
        for key in KEYS:
            response = await client.get("/webhooks/secret", headers=_auth(key))
            assert response.status_code == 200, response.text
            secrets[key] = response.json()["secret"]
        assert secrets[ALICE] != secrets[BOB]
        assert WEBHOOK_SECRET not in secrets.values()
        key_id = hashlib.sha256(ALICE.encode()).hexdigest()[:16]
        expected = hmac.new(
            base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_")), f"webhook:{key_id}".encode(), hashlib.sha256
        ).digest()
        assert secrets[ALICE] == "whsec_" + base64.b64encode(expected).decode()
        assert key_webhook_secret(WEBHOOK_SECRET, key_id) == secrets[ALICE]
        assert (await client.get("/webhooks/secret")).status_code == 401


async def test_urls_in_job_views_lose_their_query_string(infra: Infra, tmp_path: Path) -> None:
    async with _service(infra, tmp_path) as client:
        url = "https://hooks.example.com/in/abc?token=s3cret#frag"
        job = await _submit(client, ALICE, webhook_url=url)
        assert job.status_code == 202, job.text
        assert job.json()["webhook_url"] == "https://hooks.example.com/in/abc"
        shown = (await client.get(f"/jobs/{job.json()['id']}", headers=_auth(ALICE))).json()
        listed = (await client.get("/jobs", headers=_auth(ALICE))).json()["items"][0]
        assert "s3cret" not in str(shown) and "s3cret" not in str(listed)


async def test_an_open_api_signs_with_the_configured_secret(infra: Infra, tmp_path: Path) -> None:
    async with running_service(make_settings(infra, tmp_path), run_worker=False) as client:
        response = await client.get("/webhooks/secret")
        assert response.status_code == 200 and response.json() == {"secret": WEBHOOK_SECRET}
    async with running_service(make_settings(infra, tmp_path, webhook_secret=None), run_worker=False) as client:
        missing = await client.get("/webhooks/secret")
        assert missing.status_code == 404 and missing.json()["code"] == "webhooks_not_configured"


async def test_metrics_token_guards_the_apis_metrics_and_nothing_else(infra: Infra, tmp_path: Path) -> None:
    settings = make_settings(infra, tmp_path, metrics_token="scrape-secret")
    async with running_service(settings, run_worker=False) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-secret"}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401 and refused.json()["code"] == "metrics_token_required", refused.text
            assert "scrape-secret" not in refused.text
        scraped = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert scraped.status_code == 200 and "video_processing_jobs_finished_total" in scraped.text
        assert (await client.get("/healthz")).status_code == 200  # other routes are as they were
    async with running_service(make_settings(infra, tmp_path / "open"), run_worker=False) as client:
        assert (await client.get("/metrics")).status_code == 200  # unset: open, as Prometheus expects by default
