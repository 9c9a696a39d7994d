"""Live job progress: one LISTEN connection per process fans PostgreSQL notifications out to SSE streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pydantic_core

from app.db import FEED_CHANNEL, JobStore
from app.domain.jobs import TERMINAL, Job

log = logging.getLogger(__name__)


class JobFeed:
    """Wakes the streams watching a job whenever any process changes it (triggers NOTIFY on every visible write).

    The LISTEN connection is opened on the first subscription and kept, outside the pool, so streams never
    hold a pool connection while they wait. A lost connection degrades streams to polling at each heartbeat,
    and the next subscription opens a new one.
    """

    def __init__(self, dsn: str, store: JobStore) -> None:
        self.dsn = dsn
        self.store = store
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._watchers: dict[str, set[asyncio.Event]] = {}

    @property
    def watchers(self) -> int:
        """How many streams are subscribed now (the leak test counts them)."""
        return sum(len(w) for w in self._watchers.values())

    @contextlib.asynccontextmanager
    async def watch(self, job_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        """An event set whenever the job changes; unsubscribed however the caller leaves."""
        await self._listen()
        key, wake = str(job_id), asyncio.Event()
        self._watchers.setdefault(key, set()).add(wake)
        try:
            yield wake
        finally:
            watchers = self._watchers.get(key)
            if watchers is not None:
                watchers.discard(wake)
                if not watchers:
                    del self._watchers[key]

    async def _listen(self) -> None:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return
            try:
                self._conn = await asyncpg.connect(self.dsn)
                await self._conn.add_listener(FEED_CHANNEL, self._notified)
            except (OSError, asyncpg.PostgresError) as exc:  # streams still poll at each heartbeat
                log.warning("job feed cannot listen: %s", exc)
                self._conn = None

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        for wake in self._watchers.get(str(payload), ()):
            wake.set()

    async def close(self) -> None:
        """Stop listening."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)


def _sse(event: str, data: Any, *, event_id: int | None = None) -> str:
    lines = [f"id: {event_id}"] if event_id is not None else []
    # pydantic's JSON, as the API's: a stage event's created_at reads as in GET /jobs/{id}/events.
    lines += [f"event: {event}", f"data: {pydantic_core.to_json(data).decode()}"]
    return "\n".join(lines) + "\n\n"


class _Cursor:
    """What one stream has sent: the last stage event id and the highest progress."""

    def __init__(self, last_event_id: int) -> None:
        self.last_event_id = last_event_id
        self.progress = -1.0

    def stages(self, events: list[dict[str, Any]]) -> Iterator[str]:
        for e in events:
            self.last_event_id = max(self.last_event_id, int(e["id"]))
            yield _sse("stage", e, event_id=int(e["id"]))

    def progress_of(self, job: Job) -> str | None:
        # Never backwards: a retried attempt starts its bar again from its checkpoint, below what was shown.
        if job.progress <= self.progress and self.progress >= 0:
            return None
        self.progress = job.progress
        return _sse("progress", {"stage": job.stage, "progress": job.progress, "status": job.status})


async def job_stream(
    feed: JobFeed, job_id: uuid.UUID, *, client_id: str | None, last_event_id: int, heartbeat: float
) -> AsyncIterator[str]:
    """Server-Sent Events of one job: where the bar is, stage events after `last_event_id`, then the final job.

    Each round sends the progress first: a stream that (re)connects is told where the bar is at once, before
    the stage events it missed, however many there are.
    """
    cursor = _Cursor(last_event_id)
    yield "retry: 2000\n\n"
    async with feed.watch(job_id) as wake:
        while True:
            wake.clear()  # before reading, so a change during the reads wakes the next round
            row = await feed.store.get(job_id, client_id=client_id)
            if row is None:  # deleted by retention while watched
                return
            job = Job.of(row)
            if (chunk_or_none := cursor.progress_of(job)) is not None:
                yield chunk_or_none
            for chunk in cursor.stages(await feed.store.events(job_id, after=cursor.last_event_id)):
                yield chunk
            if row.status in TERMINAL:
                yield _sse("job", job.model_dump(mode="json"))
                return
            try:
                await asyncio.wait_for(wake.wait(), heartbeat)
            except TimeoutError:
                yield ": ping\n\n"
