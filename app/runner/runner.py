"""The background runner: claims jobs up to WORKER_CONCURRENCY, wakes on NOTIFY, stops them on cancel or shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis

from app.config import Settings
from app.db import CANCEL_CHANNEL, JOBS_CHANNEL, Claim, JobStore, WorkerRegistry
from app.db.checkpoint import RedisCheckpoints
from app.db.ledger import PgLedger
from app.db.retention import RetentionStore
from app.ops import logs, metrics
from app.ops.outages import log_trouble
from app.pipeline.editor import SmartVideoEditor
from app.runner import liveness
from app.runner.attempt import Attempt
from app.runner.heartbeat import Heartbeat
from app.runner.housekeeping import Housekeeper
from app.runner.retention import RetentionSweeper
from app.storage import Media

log = logging.getLogger(__name__)


@dataclass
class _Active:
    task: asyncio.Task[None]
    reason: str | None = None  # why we cancelled it: "cancel", "lease" or "shutdown"

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.task.cancel()


class Runner:
    """Claims up to WORKER_CONCURRENCY jobs at a time; wakes on NOTIFY, polls as a fallback."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        editor: SmartVideoEditor,
        redis: Redis,
        media: Media,
        *,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_finished = on_finished  # called after each job reaches a final status
        self.store = store
        self.editor = editor
        self.redis = redis
        self.media = media
        self.me = liveness.me()
        self.owner = self.me.id
        self.registry = WorkerRegistry(store.pool)
        self.retention = RetentionStore(store.pool)
        sweeper = RetentionSweeper(
            self.retention,
            media.store,
            output_ttl=settings.output_ttl,
            job_retention=settings.job_retention,
        )
        self.housekeeper = Housekeeper(
            store,
            self.registry,
            self.me,
            jobs_dir=editor.jobs_dir,
            uploads_dir=settings.upload_temp_dir,
            retention=sweeper,
            ledger=PgLedger(store.pool),
        )
        self._active: dict[uuid.UUID, _Active] = {}
        self._heard: dict[uuid.UUID, float] = {}  # cancels heard of jobs not running here, when (monotonic)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._housekept_at = float("-inf")
        self._listener: asyncpg.Connection | None = None

    def checkpoints(self, token: uuid.UUID) -> RedisCheckpoints:
        """Checkpoint access fenced by one lease token."""
        return RedisCheckpoints(self.redis, ttl=self.settings.checkpoint_ttl, token=token.hex)

    async def start(self) -> None:
        """Listen for new jobs and cancels, and start the claim loop."""
        await self._listen()
        self._loop_task = asyncio.create_task(self._loop(), name="runner")

    async def stop(self) -> None:
        """Stop claiming; stop running jobs and hand them back to the queue so another start resumes them."""
        self._stopping.set()
        self._wake.set()
        if self._loop_task:
            await self._loop_task
        for active in list(self._active.values()):
            active.stop("shutdown")
        tasks = [a.task for a in self._active.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds)
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close(timeout=2)
        with contextlib.suppress(Exception):
            await self.registry.unregister(self.owner)

    def cancel_local(self, job_id: uuid.UUID) -> bool:
        """Stop a job this process runs (after DELETE /jobs/{id}); False when it is not ours."""
        active = self._active.get(job_id)
        if active:
            active.stop("cancel")
            return True
        # The job's claim may be on its way to this process: a NOTIFY can overtake the claim's answer, and the
        # claimed row was read before the cancel. Kept for a minute, for `_execute` to see.
        now = time.monotonic()
        self._heard = {heard: at for heard, at in self._heard.items() if now - at < 60}
        self._heard[job_id] = now
        return False

    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(self.settings.postgres_dsn)
            await self._listener.add_listener(JOBS_CHANNEL, lambda *_: self._wake.set())
            await self._listener.add_listener(CANCEL_CHANNEL, self._on_cancel)
        except (OSError, asyncpg.PostgresError):
            log_trouble(log, "LISTEN failed; falling back to polling")

    def _on_cancel(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError):
            self.cancel_local(uuid.UUID(str(payload)))

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            await self._housekeeping()
            claimed = False
            if len(self._active) < self.settings.worker_concurrency:
                try:
                    claim = await self.store.claim(self.owner, self.settings.lease_seconds)
                except Exception:
                    log_trouble(log, "claim failed; will retry")
                    claim = None
                if claim is not None:
                    claimed = True
                    task = asyncio.create_task(self._execute(claim), name=f"job-{claim.job.id}")
                    self._active[claim.job.id] = _Active(task)
                    task.add_done_callback(functools.partial(self._done, claim.job.id))
            if claimed:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval_seconds)

    async def _housekeeping(self) -> None:
        # Once per poll interval, not once per claim: a burst of claims should not add queries.
        if time.monotonic() - self._housekept_at < self.settings.poll_interval_seconds:
            return
        self._housekept_at = time.monotonic()
        try:
            if self._listener is None or self._listener.is_closed():
                await self._listen()  # a dropped LISTEN connection (server restart, pg_terminate_backend)
        except Exception:
            log_trouble(log, "LISTEN reconnect failed; will retry")
        await self.housekeeper.run()

    def _done(self, job_id: uuid.UUID, _task: asyncio.Task[None]) -> None:
        self._active.pop(job_id, None)
        self._wake.set()

    async def _execute(self, claim: Claim) -> None:
        job, token = claim.job, claim.token
        active = self._active[job.id]  # registered by _loop in the same step that created this task
        logs.job_id.set(str(job.id))  # this task's context: every line logged for the job names it
        logs.attempt.set(job.attempts)
        execution = Attempt(
            settings=self.settings,
            store=self.store,
            retention=self.retention,
            editor=self.editor,
            checkpoints=self.checkpoints(token),
            media=self.media,
            on_finished=self.on_finished,
            job=job,
            token=token,
        )
        metrics.jobs_running.inc()
        try:
            if job.cancel_requested or self._heard.pop(job.id, None) is not None:
                await execution.finish("cancelled")
                return
            # Only claims that ended in a fault count: hand-backs (shutdown, a Redis blip) do not.
            if job.faults >= self.settings.max_attempts:
                await execution.fail(
                    "too_many_attempts",
                    f"The job was attempted {job.attempts - 1} times, {job.faults} of them ended in a fault; "
                    "giving up.",
                )
                return
            async with Heartbeat(self.store, job.id, token, self.settings.lease_seconds, active.stop):
                await execution.run()
        except asyncio.CancelledError:
            await asyncio.shield(execution.stopped(active.reason))
        except Exception:
            # The lease runs out and another claim takes the job again.
            log_trouble(log, "job %s: its outcome was not recorded", job.id, level=logging.ERROR)
        finally:
            metrics.jobs_running.dec()
