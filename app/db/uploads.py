"""Uploaded sources: who sent each, its size and hash, and until when it is kept unless a job uses it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

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


class UploadStore:
    """Every query of uploads."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, upload_id: uuid.UUID, client_id: str, size: int, sha256: str, ttl: float) -> UploadRow:
        """Record a stored upload, kept `ttl` seconds unless a job uses it."""
        row = await self.pool.fetchrow(
            "INSERT INTO uploads (id, client_id, size, sha256, expires_at) "
            "VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING *",
            upload_id,
            client_id,
            size,
            sha256,
            ttl,
        )
        assert row is not None
        return UploadRow(**dict(row))

    @once_more_on_lost_connection
    async def usable(self, upload_id: uuid.UUID, client_id: str) -> UploadRow | None:
        """The upload if it is this key's and not expired (or already used by a job, which keeps it)."""
        row = await self.pool.fetchrow(
            "SELECT * FROM uploads WHERE id = $1 AND client_id = $2 AND (used_at IS NOT NULL OR expires_at > now())",
            upload_id,
            client_id,
        )
        return UploadRow(**dict(row)) if row else None

    @once_more_on_lost_connection
    async def mark_used(self, upload_id: uuid.UUID) -> None:
        """A job uses this upload: the sweep of unused uploads no longer takes it."""
        await self.pool.execute("UPDATE uploads SET used_at = now() WHERE id = $1 AND used_at IS NULL", upload_id)
