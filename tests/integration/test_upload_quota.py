"""Each API key keeps at most MAX_UPLOADS_PER_KEY unexpired uploads of MAX_UPLOAD_BYTES_PER_KEY in all: past the
count a 429, past the bytes a 413, both `upload_quota_exceeded`, and never passed by uploads sent at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx

from app.config import Settings
from tests.conftest import Infra, make_settings, running_service


def _service(infra: Infra, tmp_path: Path, **limits: int) -> tuple[Settings, str, str]:
    """Settings with these limits, and two API keys of this test's own (the session's database is shared)."""
    run = uuid.uuid4().hex[:8]
    alice, bob = f"alice-{run}", f"bob-{run}"
    return make_settings(infra, tmp_path, api_keys=[alice, bob], **limits), alice, bob


def _leftovers(settings: Settings) -> list[Path]:
    """Files uploads may leave besides the stored ones: received temp files."""
    return [p for p in settings.temp_dir.rglob("*") if p.is_file()]


async def _stored(settings: Settings, key: str) -> list[int]:
    """The sizes of the key's upload rows, smallest first (every row counts, stored or still being received)."""
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        # The database keeps a key's id, never the key: the first 16 hex digits of its SHA-256.
        rows = await conn.fetch(
            "SELECT size FROM uploads WHERE client_id = left(encode(sha256($1::bytea), 'hex'), 16) ORDER BY size",
            key.encode(),
        )
        return [r["size"] for r in rows]
    finally:
        await conn.close()


def _refused(response: httpx.Response, status: int, *, before_reading: bool = True) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "upload_quota_exceeded"
    if before_reading:  # refused at once, knowing when the first counted upload expires
        assert 0 < int(response.headers["retry-after"]) <= 86_400
    detail: str = response.json()["detail"]
    return detail


async def _chunked(data: bytes) -> AsyncIterator[bytes]:
    """A body without Content-Length: the quota must hold while it streams."""
    for start in range(0, len(data), 10_000):
        yield data[start : start + 10_000]


async def test_an_upload_past_the_keys_count_is_a_429_until_one_expires(infra: Infra, tmp_path: Path) -> None:
    settings, alice, bob = _service(infra, tmp_path, max_uploads_per_key=2)
    async with running_service(settings, run_worker=False) as client:
        client.headers["X-API-Key"] = alice
        first, second = [(await client.post("/uploads", content=b"video" * 100)).json() for _ in "ab"]
        detail = _refused(await client.post("/uploads", content=b"video" * 100), 429)
        assert "2 uploads" in detail and "MAX_UPLOADS_PER_KEY" in detail
        assert (await client.post("/uploads", content=b"video", headers={"X-API-Key": bob})).status_code == 201

        # A job uses the first; it still counts until it expires.
        assert (await client.post("/jobs", json={"input_upload": first["upload_id"]})).status_code == 202
        _refused(await client.post("/uploads", content=b"video"), 429)
        conn = await asyncpg.connect(settings.postgres_dsn)
        try:
            await conn.execute(
                "UPDATE uploads SET expires_at = now() - interval '1 second' WHERE id = $1",
                uuid.UUID(second["upload_id"]),
            )
        finally:
            await conn.close()
        assert (await client.post("/uploads", content=b"video")).status_code == 201
    assert len(await _stored(settings, alice)) == 3 and _leftovers(settings) == []


async def test_an_upload_past_the_keys_bytes_is_a_413_declared_or_streamed(infra: Infra, tmp_path: Path) -> None:
    settings, alice, bob = _service(infra, tmp_path, max_upload_bytes_per_key=250_000)
    async with running_service(settings, run_worker=False) as client:
        client.headers["X-API-Key"] = alice
        for _ in range(2):
            assert (await client.post("/uploads", content=b"\1" * 100_000)).status_code == 201
        declared = _refused(await client.post("/uploads", content=b"\2" * 100_000), 413)
        assert "250000 bytes" in declared and "50000 bytes are free" in declared
        streamed = _refused(await client.post("/uploads", content=_chunked(b"\3" * 100_000)), 413, before_reading=False)
        assert "50000 bytes are free" in streamed
        assert (await client.post("/uploads", content=_chunked(b"\4" * 40_000))).status_code == 201
        assert (await client.post("/uploads", content=b"\5" * 100_000, headers={"X-API-Key": bob})).status_code == 201
    assert await _stored(settings, alice) == [40_000, 100_000, 100_000]
    assert _leftovers(settings) == []


async def test_uploads_sent_at_once_never_pass_the_quota_together(infra: Infra, tmp_path: Path) -> None:
    settings, alice, bob = _service(infra, tmp_path, max_uploads_per_key=3, max_upload_bytes_per_key=250_000)
    async with running_service(settings, run_worker=False) as client:

        async def upload(key: str, size: int) -> int:
            response = await client.post("/uploads", content=b"\1" * size, headers={"X-API-Key": key})
            return response.status_code

        # Alice runs into the count, Bob into the bytes, each with every upload in flight at once.
        counted = [upload(alice, 10) for _ in range(12)]
        weighed = [upload(bob, 100_000) for _ in range(6)]
        statuses = await asyncio.gather(*counted, *weighed)
    assert sorted(statuses[:12]) == [201] * 3 + [429] * 9
    assert sorted(statuses[12:]) == [201] * 2 + [413] * 4
    assert await _stored(settings, alice) == [10] * 3 and await _stored(settings, bob) == [100_000] * 2
    assert _leftovers(settings) == []
