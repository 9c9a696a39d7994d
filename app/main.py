"""create_app(): the FastAPI app; its lifespan owns the pool, Redis, the runner and the webhook sender."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_fastapi_instrumentator import Instrumentator
from redis.asyncio import Redis

from app import __version__, metrics
from app.api import problems
from app.api.deps import Services
from app.api.limits import BodyLimit
from app.api.media import router as media_router
from app.api.routes import router
from app.attempt import cancelled_webhook
from app.config import Settings
from app.db import JobStore, WebhookOutbox, create_pool, migrate
from app.db.retention import RetentionStore
from app.db.uploads import UploadStore
from app.jobs import JobService
from app.media.ffmpeg import find_binaries
from app.pipeline import SmartVideoEditor
from app.runner import Runner
from app.storage import open_media
from app.uploads import UploadService
from app.webhooks import WebhookSender

log = logging.getLogger(__name__)
_GAUGE_SECONDS = 5.0


@asynccontextmanager
async def open_services(settings: Settings, *, run_worker: bool) -> AsyncIterator[Services]:
    """Connect to PostgreSQL (migrating it) and Redis; start the runner and webhook sender when asked."""
    pool = await create_pool(settings.postgres_dsn, max_size=settings.max_pool_size)
    redis = Redis.from_url(settings.redis_url)
    store = JobStore(pool)
    runner: Runner | None = None
    sender: WebhookSender | None = None
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
            editor = SmartVideoEditor(
                binaries=find_binaries(settings.ffmpeg_path),
                temp_dir=settings.temp_dir,
                max_source_seconds=settings.max_source_seconds,
                render_parallelism=settings.render_parallelism,
            )
            if settings.webhook_secret:
                sender = WebhookSender(
                    WebhookOutbox(pool), secret=settings.webhook_secret, allow_private=settings.webhook_allow_private
                )
                sender.start()
            runner = Runner(settings, store, editor, redis, media, on_finished=sender.wake if sender else None)
            await runner.start()
        upload_store = UploadStore(pool)
        jobs = JobService(
            store,
            settings,
            cancel_webhook=cancelled_webhook,
            runner=runner,
            media=media.store,
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
            settings=settings, store=store, redis=redis, runner=runner, jobs=jobs, media=media, uploads=uploads
        )
    finally:
        gauges.cancel()
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


def create_app(settings: Settings | None = None, *, run_worker: bool = True) -> FastAPI:
    """The service: API routes, problem+json errors, /metrics; with the runner unless `run_worker` is False."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, run_worker=run_worker) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="SmartVideoEditor",
        version=__version__,
        summary="Long videos in, loudness-normalised BT.709 highlight reels out.",
        lifespan=lifespan,
    )
    problems.install(app)
    # Uploads are capped by MAX_INPUT_BYTES while they stream, not by the small limit of JSON bodies.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, exempt=("/uploads",))
    app.include_router(router)
    app.include_router(media_router)
    Instrumentator(excluded_handlers=["/metrics"]).instrument(app).expose(app, include_in_schema=False)
    return app
