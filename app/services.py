"""Builds the services once, for `serve`, `api`, `worker` and `bench`: pool, Redis, runner, webhooks, job service."""

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
from app.jobs import JobService
from app.live import JobFeed
from app.media.ffmpeg import find_binaries
from app.pipeline import SmartVideoEditor
from app.runner import Runner
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
    try:
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
            runner = Runner(settings, store, make_editor(settings), redis, on_finished=sender.wake if sender else None)
            await runner.start()
        jobs = JobService(store, settings, redis=redis, cancel_webhook=cancelled_webhook, runner=runner)
        yield Services(settings=settings, store=store, redis=redis, runner=runner, jobs=jobs, feed=feed)
    finally:
        gauges.cancel()
        await feed.close()
        if runner is not None:
            await runner.stop()
        if sender is not None:
            await sender.stop()
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
