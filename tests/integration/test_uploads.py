"""POST /uploads: raw and multipart bodies streamed to the store, owned by their key, capped, and never half kept."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from starlette.types import Message, Scope

from app.api.app import create_app
from app.config import Settings
from tests.conftest import Infra, make_settings, running_service
from tests.support.jobs import wait_final
from tests.support.media import make_source

RUN = uuid.uuid4().hex[:8]
ALICE, BOB = f"alice-{RUN}", f"bob-{RUN}"


def _settings(infra: Infra, tmp_path: Path, **extra: Any) -> Settings:
    return make_settings(infra, tmp_path, api_keys=[ALICE, BOB], **extra)


def _leftovers(settings: Settings) -> list[Path]:
    """Every file an upload may leave: received temp files and stored uploads."""
    return [
        p for d in (settings.temp_dir, settings.data_dir / "uploads") if d.exists() for p in d.rglob("*") if p.is_file()
    ]


async def test_raw_upload_becomes_a_job_source_and_only_for_its_key(infra: Infra, tmp_path: Path) -> None:
    settings = _settings(infra, tmp_path)
    data = make_source(tmp_path / "talk.mp4", seconds=20).read_bytes()
    assert len(data) > settings.max_body_bytes // 4
    async with running_service(settings) as client:
        client.headers["X-API-Key"] = ALICE
        response = await client.post("/uploads", content=data, headers={"content-type": "video/mp4"})
        assert response.status_code == 201, response.text
        upload = response.json()
        assert upload["size"] == len(data) and upload["sha256"] == hashlib.sha256(data).hexdigest()
        assert set(upload) == {"upload_id", "size", "sha256", "expires_at"}

        theirs = await client.post("/jobs", json={"input_upload": upload["upload_id"]}, headers={"X-API-Key": BOB})
        unknown = await client.post("/jobs", json={"input_upload": str(uuid.uuid4())}, headers={"X-API-Key": BOB})
        assert theirs.status_code == unknown.status_code == 422
        assert theirs.json()["code"] == unknown.json()["code"] == "upload_not_found"

        body = {"input_upload": upload["upload_id"], "highlights": [{"start_time": 2, "end_time": 17}]}
        job = (await client.post("/jobs", json=body)).json()
        assert job["input_upload"] == upload["upload_id"]
        done = await wait_final(client, job["id"])
        assert done["status"] == "completed", done["error"]


async def test_multipart_file_field_is_stored_and_a_body_over_the_json_limit_is_fine(
    infra: Infra, tmp_path: Path
) -> None:
    settings = _settings(infra, tmp_path, max_body_bytes=4096)
    data = bytes(range(256)) * 4000  # ~1 MB: far over the JSON body limit, which uploads are exempt from
    async with running_service(settings, run_worker=False) as client:
        client.headers["X-API-Key"] = ALICE
        response = await client.post(
            "/uploads", data={"note": "ignored"}, files={"file": ("clip.mp4", data, "video/mp4")}
        )
        assert response.status_code == 201, response.text
        upload = response.json()
        assert upload["size"] == len(data) and upload["sha256"] == hashlib.sha256(data).hexdigest()
        assert (settings.data_dir / "uploads" / upload["upload_id"]).read_bytes() == data

        missing = await client.post("/uploads", files={"other": ("x.mp4", b"abc", "video/mp4")})
        assert missing.status_code == 400 and missing.json()["code"] == "invalid_multipart"
    assert [p.name for p in _leftovers(settings)] == [upload["upload_id"]]


async def test_upload_over_max_input_bytes_is_refused_and_leaves_nothing(infra: Infra, tmp_path: Path) -> None:
    settings = _settings(infra, tmp_path, max_input_bytes=100_000)

    async def chunks() -> Any:  # chunked: no Content-Length, so the cap must hold while streaming
        for _ in range(50):
            yield b"\0" * 10_000

    async with running_service(settings, run_worker=False) as client:
        response = await client.post("/uploads", content=chunks(), headers={"X-API-Key": ALICE})
        declared = await client.post("/uploads", content=b"\0" * 200_000, headers={"X-API-Key": ALICE})
    assert response.status_code == 413 and response.json()["code"] == "input_too_large"
    assert declared.status_code == 413 and declared.json()["code"] == "input_too_large"
    assert _leftovers(settings) == []


async def test_upload_cut_off_halfway_leaves_nothing_behind(infra: Infra, tmp_path: Path) -> None:
    settings = _settings(infra, tmp_path)
    app = create_app(settings, run_worker=False)
    sent: list[Message] = []
    messages: list[Message] = [
        {"type": "http.request", "body": b"\1" * 300_000, "more_body": True},
        {"type": "http.request", "body": b"\2" * 300_000, "more_body": True},
        {"type": "http.disconnect"},  # the client went away with 400 kB of the promised 1 MB unsent
    ]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/uploads",
        "raw_path": b"/uploads",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", b"1000000"), (b"x-api-key", ALICE.encode()), (b"host", b"t")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    async with app.router.lifespan_context(app):
        scope["app"] = app
        scope["state"] = {}
        await app(scope, receive, send)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            listed = await client.get("/jobs", headers={"X-API-Key": ALICE})
            assert listed.status_code == 200
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert body["code"] == "upload_incomplete"
    assert _leftovers(settings) == []
