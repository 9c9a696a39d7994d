"""Storage: the MediaStore Protocol, its local and S3 implementations, and `open_media` that picks one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from app.config import Settings
from app.storage.base import MediaStore, ObjectError, ReelDownload, S3Location
from app.storage.local import LocalStore
from app.storage.s3 import S3Objects, S3Store

__all__ = ["Media", "MediaStore", "ObjectError", "ReelDownload", "S3Location", "S3Objects", "open_media"]


@dataclass(frozen=True)
class Media:
    """The store of reels, and an S3 client for `s3://` inputs (None when neither S3 store nor S3 inputs are set)."""

    store: MediaStore
    objects: S3Objects | None


@contextlib.asynccontextmanager
async def open_media(settings: Settings) -> AsyncIterator[Media]:
    """The configured store (STORAGE_URL, else OUTPUT_ROOT); one S3 client shared for the process's life."""
    s3_needed = bool(settings.storage_url or settings.input_s3_allow)
    if not s3_needed:
        yield Media(_local(settings), None)
        return
    from aiobotocore.session import get_session

    session = get_session()
    # Credentials and region come from the usual AWS variables and files, read by botocore itself.
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(session.create_client("s3", endpoint_url=settings.s3_endpoint_url))
        presigner = None
        if settings.s3_public_endpoint_url:
            presigner = await stack.enter_async_context(
                session.create_client("s3", endpoint_url=settings.s3_public_endpoint_url)
            )
        objects = S3Objects(client, presigner=presigner)
        store: MediaStore
        if settings.storage_url:
            store = S3Store(objects, S3Location.parse(settings.storage_url), presign_seconds=settings.presign_seconds)
        else:
            store = _local(settings)
        yield Media(store, objects)


def _local(settings: Settings) -> LocalStore:
    return LocalStore(output_root=settings.output_root, uploads_root=settings.data_dir / "uploads")
