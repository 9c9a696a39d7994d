"""Receiving an upload: streamed to a temp file (hashed as it arrives, size-capped), then handed to the store."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from app.db.uploads import UploadRow, UploadStore
from app.domain.jobs import JobRefused, Owner
from app.storage import MediaStore
from app.storage.base import write_hashed

log = logging.getLogger(__name__)
_FRAMING_BYTES = 64 << 10  # room for a multipart body's boundaries and part headers around the file


class UploadService:
    """Takes a body stream from a client and keeps it as one upload of that client's.

    `temp_dir`: where bodies are received before the store takes them; `max_bytes`: the cap, enforced while
    streaming; `ttl`: seconds an upload no job uses is kept.
    """

    def __init__(self, uploads: UploadStore, store: MediaStore, *, temp_dir: Path, max_bytes: int, ttl: int) -> None:
        self.uploads = uploads
        self.store = store
        self.temp_dir = temp_dir
        self.max_bytes = max_bytes
        self.ttl = ttl

    async def receive(self, body: AsyncIterator[bytes], owner: Owner, *, declared: int | None = None) -> UploadRow:
        """Stream `body` into the store; JobRefused 413 past the cap, 400 when the body is cut off or empty.

        `declared` is the request's Content-Length: far past the cap, the upload is refused before a byte is
        read (multipart framing may add a little). Whatever goes wrong, nothing is left behind: not the temp
        file, not a stored object, not a row.
        """
        if declared is not None and declared > self.max_bytes + _FRAMING_BYTES:
            raise self._too_large()
        upload_id = uuid.uuid4()
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        part = self.temp_dir / f".upload-{upload_id}.part"
        stored = False
        try:
            size, sha256 = await self._receive(body, part)
            await self.store.put_upload(str(upload_id), part)
            stored = True
            return await self.uploads.create(upload_id, owner.key_id, size, sha256, self.ttl)
        except BaseException:
            part.unlink(missing_ok=True)
            if stored:
                await asyncio.shield(self.store.delete_upload(str(upload_id)))
            raise

    async def _receive(self, body: AsyncIterator[bytes], part: Path) -> tuple[int, str]:
        digest, size = hashlib.sha256(), 0
        f = await asyncio.to_thread(part.open, "wb")
        try:
            async for chunk in body:
                size += len(chunk)
                if size > self.max_bytes:
                    raise self._too_large()
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
