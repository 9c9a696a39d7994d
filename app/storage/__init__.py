"""Storage: the MediaStore Protocol, its local and S3 implementations, and `open_media` that picks one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.config import Settings
from app.storage.base import MediaStore, ObjectError, ReelDownload, S3Location
from app.storage.cache import ObjectCache
from app.storage.local import LocalStore
from app.storage.s3 import S3Objects, S3Store

if TYPE_CHECKING:
    from aiobotocore.config import AioConfig

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
    config = _client_config(settings)
    # Credentials and region come from the usual AWS variables and files, read by botocore itself.
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            session.create_client("s3", endpoint_url=settings.s3_endpoint_url, config=config)
        )
        presigner = None
        if settings.s3_public_endpoint_url:
            presigner = await stack.enter_async_context(
                session.create_client("s3", endpoint_url=settings.s3_public_endpoint_url, config=config)
            )
        objects = S3Objects(client, presigner=presigner)
        store: MediaStore
        if settings.storage_url:
            cache = ObjectCache(settings.temp_dir / "cache" / "sources", settings.source_cache_bytes)
            if cache.root.is_dir():  # what a larger SOURCE_CACHE_BYTES kept before a restart: trimmed to this one
                await asyncio.to_thread(cache.evict)
            location = S3Location.parse(settings.storage_url)
            store = S3Store(objects, location, presign_seconds=settings.presign_seconds, cache=cache)
        else:
            store = _local(settings)
        yield Media(store, objects)


def _client_config(settings: Settings) -> AioConfig:
    """Retries and timeouts of every S3 request.

    The `standard` mode retries what is worth retrying (throttling, 500/502/503/504, timeouts, dropped
    connections) with jittered exponential backoff, and its retry quota stops retrying an endpoint that is
    down. Not `adaptive`: its client-side rate limiter would slow every later request of a worker after one
    throttled answer, and a worker makes a handful of requests per reel.
    """
    from aiobotocore.config import AioConfig

    return AioConfig(
        # total_max_attempts counts the first try; botocore's max_attempts would count the retries only.
        retries={"mode": "standard", "total_max_attempts": settings.s3_max_attempts},
        connect_timeout=settings.s3_connect_timeout_seconds,
        read_timeout=settings.s3_read_timeout_seconds,
    )


def _local(settings: Settings) -> LocalStore:
    return LocalStore(output_root=settings.output_root, uploads_root=settings.data_dir / "uploads")
