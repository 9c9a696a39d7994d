"""Signed URLs: minted with a key, they open one resource of one job without it, and nothing else, for 15 min at most.

One AI-ranked job (the fake provider hears the talk) gives a reel, a poster frame and captions to open.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.domain.jobs import key_id
from app.service.signed_urls import MAX_LIFETIME, SignedResource, UrlSigner
from tests.conftest import Infra, make_settings, running_service
from tests.support.ai_talk import OUTPUT, ai_settings, hearing, talk_source
from tests.support.cache import SourceCache
from tests.support.jobs import submit, wait_final
from tests.support.openai_server import FakeOpenAI, keyword_ranker, serve

RUN = uuid.uuid4().hex[:8]
ALICE, BOB = f"alice-{RUN}", f"bob-{RUN}"
EVENT_SOURCE = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}  # what a browser's EventSource sends


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    yield from serve(FakeOpenAI(hearing=hearing, choosing=keyword_ranker("secret")))


async def mint(client: httpx.AsyncClient, job_id: str, resource: str, key: str | None, **body: Any) -> dict[str, Any]:
    headers = {"X-API-Key": key} if key else {}
    response = await client.post(f"/jobs/{job_id}/signed-urls", json={"resource": resource, **body}, headers=headers)
    assert response.status_code == 200, response.text
    signed: dict[str, Any] = response.json()
    return signed


def refused(response: httpx.Response, code: str) -> bool:
    return response.status_code == 401 and response.json()["code"] == code


def signed_path(settings: Settings, job_id: str, resource: SignedResource, expires: int, key: str) -> str:
    """A URL signed by the server's own signer, with whatever expiry the test needs."""
    signer = UrlSigner.of(settings.webhook_secret, settings.api_keys, settings.admin_api_keys)
    assert signer is not None
    signature = signer.sign(uuid.UUID(job_id), resource, expires, key_id(key))
    return f"/jobs/{job_id}/{resource.value}?expires={expires}&signature={signature}"


async def test_a_signed_url_opens_its_one_resource_of_its_one_job_without_a_key(
    infra: Infra, tmp_path: Path, fake: FakeOpenAI, sources: SourceCache
) -> None:
    settings = ai_settings(infra, tmp_path, fake, api_keys=[ALICE, BOB])
    talk = talk_source(sources, settings.media_root)
    async with running_service(settings) as client:
        client.headers["X-API-Key"] = ALICE
        job_id = (await submit(client, talk, output=OUTPUT))["id"]
        done = await wait_final(client, job_id, timeout=120)
        assert done["status"] == "completed" and done["result"]["captions_url"], done["error"]
        other_id = (await submit(client, talk, output=OUTPUT))["id"]
        await client.delete(f"/jobs/{other_id}")  # only its id is needed: its reel would be work for nothing
        del client.headers["X-API-Key"]

        urls = {r: await mint(client, job_id, r, ALICE, expires_in=300) for r in ("output", "thumbnail", "captions")}
        for resource, signed in urls.items():
            assert signed["resource"] == resource and signed["url"].startswith(f"/jobs/{job_id}/{resource}?")
            keyed = await client.get(f"/jobs/{job_id}/{resource}", headers={"X-API-Key": ALICE})
            opened = await client.get(signed["url"])  # no key: a <video>, <img> or <track>
            assert opened.status_code == 200 and opened.content == keyed.content, resource
        assert 290 <= datetime.fromisoformat(urls["output"]["expires_at"]).timestamp() - time.time() <= 301
        part = await client.get(urls["output"]["url"], headers={"Range": "bytes=0-99"})  # as a player seeks
        assert part.status_code == 206 and len(part.content) == 100
        assert (await client.get(urls["captions"]["url"])).text.startswith("WEBVTT")

        events = await mint(client, job_id, "events", ALICE)
        assert events["url"].startswith(f"/jobs/{job_id}/events/stream?")
        stream = await client.get(events["url"], headers=EVENT_SOURCE)
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        assert "event: stage" in stream.text and '"status":"completed"' in stream.text.split("event: job")[1]

        output = urls["output"]["url"]
        path, query = output.split("?")
        signature = query.split("signature=")[1]
        tampered = signature[:-1] + ("A" if signature[-1] != "A" else "B")
        assert refused(await client.get(f"{path}?{query.replace(signature, tampered)}"), "signed_url_invalid")
        expires = int(query.split("&")[0].removeprefix("expires="))
        assert refused(await client.get(output.replace(f"expires={expires}", f"expires={expires + 60}")),
                       "signed_url_invalid")  # fmt: skip
        assert refused(await client.get(output.replace(job_id, other_id)), "signed_url_invalid")  # another job
        assert refused(await client.get(output.replace("/output?", "/thumbnail?")), "signed_url_invalid")
        assert refused(await client.get(urls["thumbnail"]["url"].replace("/thumbnail?", "/events/stream?")),
                       "signed_url_invalid")  # fmt: skip
        assert refused(await client.get(f"{path}?signature={signature}"), "signed_url_invalid")  # no expiry
        assert refused(await client.get(path), "unauthorized")

        past = signed_path(settings, job_id, SignedResource.output, int(time.time()) - 5, ALICE)
        assert refused(await client.get(past), "signed_url_expired")
        beyond = signed_path(settings, job_id, SignedResource.output, int(time.time()) + MAX_LIFETIME + 60, ALICE)
        assert refused(await client.get(beyond), "signed_url_invalid")  # no URL of ours lives past 15 min
        bobs = signed_path(settings, job_id, SignedResource.output, int(time.time()) + 60, BOB)
        assert (await client.get(bobs)).json()["code"] == "job_not_found"  # Bob's URL sees only Bob's jobs

        by_bob = await client.post(
            f"/jobs/{job_id}/signed-urls", json={"resource": "output"}, headers={"X-API-Key": BOB}
        )
        assert by_bob.status_code == 404 and by_bob.json()["code"] == "job_not_found"
        assert (await client.post(f"/jobs/{job_id}/signed-urls", json={"resource": "output"})).status_code == 401
        for bad in ({"resource": "reel"}, {"resource": "output", "expires_in": MAX_LIFETIME + 1}, {}):
            invalid = await client.post(f"/jobs/{job_id}/signed-urls", json=bad, headers={"X-API-Key": ALICE})
            assert invalid.status_code == 422 and invalid.json()["code"] == "invalid_request", bad

    revoked = settings.model_copy(update={"api_keys": [BOB]})  # Alice's key is taken out of API_KEYS
    async with running_service(revoked, run_worker=False) as client:
        assert refused(await client.get(urls["thumbnail"]["url"]), "signed_url_invalid")
        assert refused(await client.get(events["url"], headers=EVENT_SOURCE), "signed_url_invalid")


async def test_open_mode_signs_too_and_a_server_without_a_secret_says_so(infra: Infra, tmp_path: Path) -> None:
    settings = make_settings(infra, tmp_path)
    (settings.media_root / "talk.mp4").write_bytes(b"never decoded")
    async with running_service(settings, run_worker=False) as client:
        job_id = (await submit(client, "talk.mp4"))["id"]
        assert (await client.delete(f"/jobs/{job_id}")).status_code == 202
        events = await mint(client, job_id, "events", None)
        stream = await client.get(events["url"], headers=EVENT_SOURCE)
        assert stream.status_code == 200 and '"status":"cancelled"' in stream.text.split("event: job")[1]
        output = await client.get((await mint(client, job_id, "output", None))["url"])
        assert output.status_code == 409 and output.json()["code"] == "output_not_ready"  # let in; no reel
    async with running_service(settings.model_copy(update={"webhook_secret": None}), run_worker=False) as client:
        unsigned = await client.post(f"/jobs/{job_id}/signed-urls", json={"resource": "output"})
        assert unsigned.status_code == 404 and unsigned.json()["code"] == "signed_urls_not_configured"
