"""Receiving an upload: streamed to a temp file (hashed as it arrives, size-capped), then handed to the store."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from app.db.uploads import UploadQuota, UploadQuotaExceeded, UploadRow, UploadStore
from app.domain.jobs import JobRefused, Owner
from app.storage import MediaStore
from app.storage.base import write_hashed

log = logging.getLogger(__name__)
_FRAMING_BYTES = 64 << 10  # room for a multipart body's boundaries and part headers around the file


class UploadService:
    """Takes a body stream from a client and keeps it as one upload of that client's.

    `temp_dir`: where bodies are received before the store takes them; `max_bytes`: the cap, enforced while
    streaming; `ttl`: seconds an upload no job uses is kept; `quota`: what one key may keep at once.
    """

    def __init__(
        self,
        uploads: UploadStore,
        store: MediaStore,
        *,
        temp_dir: Path,
        max_bytes: int,
        ttl: int,
        quota: UploadQuota,
    ) -> None:
        self.uploads = uploads
        self.store = store
        self.temp_dir = temp_dir
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.quota = quota

    async def receive(self, body: AsyncIterator[bytes], owner: Owner, *, declared: int | None = None) -> UploadRow:
        """Stream `body` into the store; JobRefused 413 past the cap or the key's bytes quota, 429 past its count
        quota, 400 when the body is cut off or empty.

        `declared` is the request's Content-Length: far past the cap, or past what the quota leaves, the upload
        is refused before a byte is read (multipart framing may add a little). Whatever goes wrong, nothing is
        left behind: not the temp file, not a stored object, not a row.
        """
        if declared is not None and declared > self.max_bytes + _FRAMING_BYTES:
            raise self._too_large()
        upload_id = uuid.uuid4()
        try:
            reserved = await self.uploads.reserve(
                upload_id, owner.key_id, size=declared, cap=self.max_bytes, quota=self.quota, ttl=self.ttl
            )
        except UploadQuotaExceeded as exc:
            raise self._over_quota(exc) from exc
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        part = self.temp_dir / f".upload-{upload_id}.part"
        stored = False
        try:
            size, sha256 = await self._receive(body, part, reserved)
            await self.store.put_upload(str(upload_id), part)
            stored = True
            return await self.uploads.stored(upload_id, owner.key_id, size, sha256, self.ttl)
        except BaseException:
            part.unlink(missing_ok=True)
            if stored:
                await asyncio.shield(self.store.delete_upload(str(upload_id)))
            await asyncio.shield(self.uploads.release(upload_id))
            raise

    async def _receive(self, body: AsyncIterator[bytes], part: Path, reserved: int) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        f = await asyncio.to_thread(part.open, "wb")
        try:
            async for chunk in body:
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large()
                if size > reserved:  # a body of unknown length that outgrew what the key's quota left
                    raise JobRefused(413, "upload_quota_exceeded", self._no_room(reserved))
                if chunk:
                    await asyncio.to_thread(write_hashed, f, digest, chunk)
        finally:
            await asyncio.to_thread(f.close)
        if size == 0:
            raise JobRefused(400, "empty_upload", "The upload has no bytes; send the video as the request body.")
        return size, digest.hexdigest()

    def _too_large(self) -> JobRefused:
        message = f"The upload is larger than {self.max_bytes} bytes (MAX_INPUT_BYTES)."
        return JobRefused(413, "input_too_large", message)

    def _over_quota(self, exc: UploadQuotaExceeded) -> JobRefused:
        # The first upload to expire frees some room: Retry-After says when (none counts: an upload too large for
        # the whole quota, which waiting does not help).
        wait = None if exc.frees_in is None else max(math.ceil(exc.frees_in), 1)
        if exc.limit == "count":
            message = (
                f"This API key already has {exc.count} uploads that have not expired, its limit "
                f"(MAX_UPLOADS_PER_KEY); each counts until its expires_at, the first in {wait} s."
            )
            return JobRefused(429, "upload_quota_exceeded", message, retry_after=wait)
        room = max(self.quota.max_bytes - exc.size, 0)
        return JobRefused(413, "upload_quota_exceeded", self._no_room(room), retry_after=wait)

    def _no_room(self, room: int) -> str:
        return (
            f"This upload does not fit in this API key's quota of {self.quota.max_bytes} bytes of uploads that "
            f"have not expired (MAX_UPLOAD_BYTES_PER_KEY); {room} bytes are free, and each upload counts until its "
            "expires_at."
        )
