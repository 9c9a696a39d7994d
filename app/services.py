"""Builds the services once, for `serve`, `api`, `worker` and `bench`: pool, Redis, media, runner, webhooks, jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from app import metrics
from app.attempt import cancelled_webhook
from app.config import Settings
from app.db import JobStore, WebhookOutbox, create_pool, migrate
from app.db.retention import RetentionStore
from app.db.uploads import UploadStore
from app.jobs import JobService
from app.live import JobFeed
from app.media.ffmpeg import find_binaries
from app.pipeline import SmartVideoEditor
from app.runner import Runner
from app.storage import Media, open_media
from app.uploads import UploadService
from app.webhooks import WebhookSender

log = logging.getLogger(__name__)
_GAUGE_SECONDS = 5.0


@dataclass
class Services:
    """Everything `open_services` opened; the API reaches it through dependencies, the worker holds it."""

    settings: Settings
    store: JobStore
    redis: Redis
    runner: Runner | None
    jobs: JobService
    feed: JobFeed
    media: Media
    uploads: UploadService


def make_editor(settings: Settings) -> SmartVideoEditor:
    """The pipeline as configured: ffmpeg binaries, temp dir, limits."""
    return SmartVideoEditor(
        binaries=find_binaries(settings.ffmpeg_path),
        temp_dir=settings.temp_dir,
        max_source_seconds=settings.max_source_seconds,
        render_parallelism=settings.render_parallelism,
    )


@asynccontextmanager
async def open_services(settings: Settings, *, run_worker: bool) -> AsyncIterator[Services]:
    """Connect to PostgreSQL (migrating it) and Redis; start the runner and webhook sender when asked."""
    pool = await create_pool(settings.postgres_dsn, max_size=settings.max_pool_size)
    redis = Redis.from_url(settings.redis_url)
    store = JobStore(pool)
    runner: Runner | None = None
    sender: WebhookSender | None = None
    feed = JobFeed(settings.postgres_dsn, store)
    gauges = asyncio.create_task(_refresh_gauges(store), name="gauges")
    exits = contextlib.AsyncExitStack()
    try:
        media = await exits.enter_async_context(open_media(settings))
        applied = await migrate(pool)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        if run_worker:
            for directory in (settings.output_root, settings.temp_dir):
                directory.mkdir(parents=True, exist_ok=True)
            if settings.webhook_secret:
                sender = WebhookSender(
                    WebhookOutbox(pool), secret=settings.webhook_secret, allow_private=settings.webhook_allow_private
                )
                sender.start()
            runner = Runner(
                settings, store, make_editor(settings), redis, media, on_finished=sender.wake if sender else None
            )
            await runner.start()
        upload_store = UploadStore(pool)
        jobs = JobService(
            store,
            settings,
            redis=redis,
            cancel_webhook=cancelled_webhook,
            runner=runner,
            media=media,
            uploads=upload_store,
            retention=RetentionStore(pool),
        )
        uploads = UploadService(
            upload_store,
            media.store,
            temp_dir=settings.temp_dir / "uploads",
            max_bytes=settings.max_input_bytes,
            ttl=settings.upload_ttl,
        )
        yield Services(
            settings=settings,
            store=store,
            redis=redis,
            runner=runner,
            jobs=jobs,
            feed=feed,
            media=media,
            uploads=uploads,
        )
    finally:
        gauges.cancel()
        await feed.close()
        if runner is not None:
            await runner.stop()
        if sender is not None:
            await sender.stop()
        with contextlib.suppress(Exception):
            await exits.aclose()
        with contextlib.suppress(Exception):
            await pool.close()
        with contextlib.suppress(Exception):
            await redis.aclose()


async def _refresh_gauges(store: JobStore) -> None:
    while True:
        with contextlib.suppress(Exception):
            counts = await store.status_counts()
            metrics.queue_depth.set(counts.get("queued", 0))
        await asyncio.sleep(_GAUGE_SECONDS)
