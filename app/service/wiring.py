"""Builds the services once, for `serve`, `api`, `worker` and `bench`: pool, Redis, media, runner, webhooks, jobs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis

from app.ai.ports import CostLedger, TranscriptCache
from app.ai.ranker import AIRanker, Models
from app.config import Settings
from app.db import JobStore, WebhookOutbox, create_pool, migrate
from app.db.ledger import PgLedger
from app.db.retention import RetentionStore
from app.db.transcripts import PgTranscripts
from app.db.uploads import UploadQuota, UploadStore
from app.media.ffmpeg import find_binaries
from app.net.guard import tls_context
from app.net.webhooks import WebhookSender
from app.ops import metrics
from app.pipeline.editor import SmartVideoEditor
from app.runner.attempt import job_webhook
from app.runner.runner import Runner
from app.service.jobs import JobService
from app.service.live import JobFeed
from app.service.studio import StudioService
from app.service.uploads import UploadService
from app.storage import Media, open_media

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
    studio: StudioService


def make_editor(settings: Settings, *, ranker: AIRanker | None = None) -> SmartVideoEditor:
    """The pipeline as configured: ffmpeg binaries, temp dir, limits, and the AI ranker when there is one."""
    return SmartVideoEditor(
        binaries=find_binaries(settings.ffmpeg_path),
        temp_dir=settings.temp_dir,
        max_source_seconds=settings.max_source_seconds,
        render_parallelism=settings.render_parallelism,
        ranker=ranker,
    )


def make_ranker(settings: Settings, transcripts: TranscriptCache, ledger: CostLedger) -> AIRanker | None:
    """AI ranking through the configured OpenAI-compatible provider; None when none is configured."""
    if not settings.ai_enabled:
        return None
    from app.ai.provider import OpenAIProvider  # here: the client takes a second to import, and most runs need none

    provider = OpenAIProvider(
        base_url=settings.ai_base_url,
        api_key=settings.ai_api_key,
        timeout=settings.ai_timeout_seconds,
        max_retries=settings.ai_max_retries,
        tls=tls_context(),
    )
    return AIRanker(
        provider,
        transcripts,
        ledger,
        ffmpeg=find_binaries(settings.ffmpeg_path).ffmpeg,
        models=Models(settings.ai_transcribe_model, settings.ai_rank_model, settings.ai_max_tokens),
        prices=settings.ai_prices,
        budget_limit=settings.budget_limit,
    )


@asynccontextmanager
async def open_services(settings: Settings, *, run_worker: bool) -> AsyncIterator[Services]:
    """Connect to PostgreSQL (migrating it) and Redis; start the runner and webhook sender when asked."""
    pool = await create_pool(settings.postgres_dsn, max_size=settings.max_pool_size)
    redis = Redis.from_url(settings.redis_url)
    store = JobStore(pool)
    runner: Runner | None = None
    sender: WebhookSender | None = None
    ranker: AIRanker | None = None
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
            ranker = make_ranker(settings, PgTranscripts(pool), PgLedger(pool))
            editor = make_editor(settings, ranker=ranker)
            # Before any claim: loading the face detector holds the GIL for some 0.4 s (longer on a first import that
            # compiles onnxruntime's Python files), which inside a job would stall the loop that renews its lease.
            await asyncio.to_thread(editor.prepare)
            runner = Runner(settings, store, editor, redis, media, on_finished=sender.wake if sender else None)
            await runner.start()
        upload_store = UploadStore(pool)
        jobs = JobService(
            store,
            settings,
            redis=redis,
            cancel_webhook=job_webhook,
            outbox=WebhookOutbox(pool),
            runner=runner,
            media=media,
            uploads=upload_store,
            retention=RetentionStore(pool),
        )
        uploads = UploadService(
            upload_store,
            media.store,
            temp_dir=settings.upload_temp_dir,
            max_bytes=settings.max_input_bytes,
            ttl=settings.upload_ttl,
            quota=UploadQuota(settings.max_uploads_per_key, settings.max_upload_bytes_per_key),
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
            studio=StudioService(jobs),
        )
    finally:
        gauges.cancel()
        await feed.close()
        if runner is not None:
            await runner.stop()
        if sender is not None:
            await sender.stop()
        if ranker is not None:
            with contextlib.suppress(Exception):
                await ranker.provider.close()
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
