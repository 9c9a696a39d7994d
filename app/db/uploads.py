"""Uploaded sources: who sent each, its size and hash, until when it is kept unless a job uses it, and the quota
of uploads (how many, how many bytes) each key may have unexpired at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from app.db.pool import once_more_on_lost_connection


@dataclass(frozen=True)
class UploadRow:
    """One stored upload."""

    id: uuid.UUID
    client_id: str
    size: int
    sha256: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class UploadQuota:
    """What one API key may keep in uploads at once: `max_count` uploads of `max_bytes` in all."""

    max_count: int
    max_bytes: int


class UploadQuotaExceeded(Exception):
    """The key's uploads are at its quota: which limit, what counts now (`count` uploads of `size` bytes), and
    in how many seconds the first of them expires (None when none counts)."""

    def __init__(self, limit: Literal["count", "bytes"], *, count: int, size: int, frees_in: float | None) -> None:
        super().__init__(f"upload quota: {limit}")
        self.limit = limit
        self.count = count
        self.size = size
        self.frees_in = frees_in


class UploadStore:
    """Every query of uploads."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def reserve(
        self, upload_id: uuid.UUID, client_id: str, *, size: int | None, cap: int, quota: UploadQuota, ttl: float
    ) -> int:
        """Count an upload against its key's quota before a byte of it is read; returns the bytes reserved.

        Every upload of the key counts until its `expires_at`, used by a job or not, and so does one still being
        received: its row, without a hash, is written here with the same expiry, so a reservation whose process
        died stops counting when an unused upload would. `size` is what the client declared; unknown, the
        upload may take what the quota leaves, up to `cap`. Raises UploadQuotaExceeded.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            # One reservation per key at a time, so two uploads at once cannot both pass the quota.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 2))", f"uploads:{client_id}")
            held = await conn.fetchrow(
                "SELECT count(*) AS count, coalesce(sum(size), 0)::bigint AS size, "
                "extract(epoch FROM min(expires_at) - now())::float8 AS frees_in "
                "FROM uploads WHERE client_id = $1 AND expires_at > now()",
                client_id,
            )
            assert held is not None
            count, used, frees_in = held["count"], held["size"], held["frees_in"]
            if count >= quota.max_count:
                raise UploadQuotaExceeded("count", count=count, size=used, frees_in=frees_in)
            room = quota.max_bytes - used
            wanted = min(cap, room) if size is None else size
            if room <= 0 or wanted > room:
                raise UploadQuotaExceeded("bytes", count=count, size=used, frees_in=frees_in)
            await conn.execute(
                "INSERT INTO uploads (id, client_id, size, sha256, expires_at) "
                "VALUES ($1, $2, $3, NULL, now() + make_interval(secs => $4))",
                upload_id,
                client_id,
                wanted,
                ttl,
            )
            return int(wanted)

    async def stored(self, upload_id: uuid.UUID, client_id: str, size: int, sha256: str, ttl: float) -> UploadRow:
        """The reserved upload is stored: its real size and hash, kept `ttl` seconds unless a job uses it.

        Written again should the sweep have taken the reservation meanwhile (an upload longer than `ttl`).
        """
        row = await self.pool.fetchrow(
            "INSERT INTO uploads (id, client_id, size, sha256, expires_at) "
            "VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) "
            "ON CONFLICT (id) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, "
            "expires_at = excluded.expires_at RETURNING *",
            upload_id,
            client_id,
            size,
            sha256,
            ttl,
        )
        assert row is not None
        return UploadRow(**dict(row))

    @once_more_on_lost_connection
    async def release(self, upload_id: uuid.UUID) -> None:
        """Drop the row of an upload that was refused or cut off: it no longer counts."""
        await self.pool.execute("DELETE FROM uploads WHERE id = $1", upload_id)

    @once_more_on_lost_connection
    async def usable(self, upload_id: uuid.UUID, client_id: str) -> UploadRow | None:
        """The upload if it is this key's, stored, and not expired (or already used by a job, which keeps it)."""
        row = await self.pool.fetchrow(
            "SELECT * FROM uploads WHERE id = $1 AND client_id = $2 AND sha256 IS NOT NULL "
            "AND (used_at IS NOT NULL OR expires_at > now())",
            upload_id,
            client_id,
        )
        return UploadRow(**dict(row)) if row else None

    @once_more_on_lost_connection
    async def mark_used(self, upload_id: uuid.UUID) -> None:
        """A job uses this upload: the sweep of unused uploads no longer takes it."""
        await self.pool.execute("UPDATE uploads SET used_at = now() WHERE id = $1 AND used_at IS NULL", upload_id)
