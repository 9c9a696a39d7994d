"""A runner's periodic chores: its registration, dead workers' jobs, expired leases, orphaned temp dirs, and
paid calls left open by a job that stopped running."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from pathlib import Path

from app.db import JobStore, Registration, WorkerRegistry
from app.db.ledger import PgLedger
from app.media.files import remove_stale
from app.ops import metrics
from app.ops.outages import log_trouble
from app.runner.liveness import is_dead_local
from app.runner.retention import RetentionSweeper

log = logging.getLogger(__name__)

# A temp dir is swept only once it has been left alone this long: a job that just started (or an attempt
# that is writing its first clip) never loses its files to a query that raced its claim.
ORPHAN_AGE_SECONDS = 600.0
_SILENT_WORKER_SECONDS = 86_400.0  # registrations with no heartbeat for a day and no lease are dropped
RETENTION_EVERY_SECONDS = 60.0  # retention works in days: once a minute is plenty, and light on the database


class Housekeeper:
    """What a runner does once per poll interval besides claiming.

    `retention` sweeps expired reels, uploads and old jobs; `ledger` closes the paid calls no attempt will settle.
    """

    def __init__(
        self,
        store: JobStore,
        registry: WorkerRegistry,
        me: Registration,
        *,
        jobs_dir: Path,
        uploads_dir: Path | None = None,
        retention: RetentionSweeper | None = None,
        ledger: PgLedger | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.me = me
        self.jobs_dir = jobs_dir  # where each job keeps its intermediates, one subdirectory per job id
        self.uploads_dir = uploads_dir  # where the API of this host writes uploads as they arrive
        self.retention = retention
        self.ledger = ledger
        self._retained_at = float("-inf")

    async def run(self) -> None:
        """One pass; each chore's failure is logged and the next chore still runs."""
        chores = (
            self.heartbeat,
            self.reclaim_dead_workers,
            self.reap_expired_leases,
            self.sweep_orphans,
            self.close_abandoned_calls,
            self.retain,
        )
        for chore in chores:
            try:
                await chore()
            except Exception:
                log_trouble(log, "housekeeping: %s failed; will retry", chore.__name__)

    async def heartbeat(self) -> None:
        await self.registry.heartbeat(self.me)
        await self.registry.forget_silent(_SILENT_WORKER_SECONDS)

    async def reclaim_dead_workers(self) -> None:
        # A worker of this machine that died (kill -9, OOM) cannot renew its lease: take its jobs back
        # now instead of waiting for the lease to run out. Workers elsewhere are left to their leases.
        for worker in await self.registry.holding_leases():
            if is_dead_local(worker, mine=self.me):
                released = await self.registry.hand_back_jobs_of(worker.id)
                log.warning("worker %s is gone; took back %d job(s)", worker.id, released)

    async def reap_expired_leases(self) -> None:
        if released := await self.registry.reap_expired():
            log.warning("handed %d job(s) with expired leases back to the queue", released)

    async def close_abandoned_calls(self) -> None:
        """Paid calls of jobs no longer running, never settled (kill -9, cancel): counted at their reservation.

        The ledger closes each once, whichever worker asks first, so the cost metric counts it once.
        """
        if self.ledger is None:
            return
        for api_name, usd in (await self.ledger.close_abandoned()).items():
            metrics.cost.labels(api_name).inc(usd)

    async def retain(self) -> None:
        """Expired reels and uploads, old jobs: at most once a minute."""
        if self.retention is None or time.monotonic() - self._retained_at < RETENTION_EVERY_SECONDS:
            return
        self._retained_at = time.monotonic()
        await self.retention.sweep()

    async def sweep_orphans(self) -> None:
        """Remove temp dirs of jobs that are final or unknown (e.g. cancelled after their lease lapsed), and
        uploads an API process left half-written when it died (one arriving writes to its file all along)."""
        if self.uploads_dir is not None:
            for part in await asyncio.to_thread(remove_stale, self.uploads_dir, ".upload-*.part", ORPHAN_AGE_SECONDS):
                log.info("removed %s, an upload abandoned mid-way", part.name)
        stale = await asyncio.to_thread(_stale_job_dirs, self.jobs_dir, ORPHAN_AGE_SECONDS)
        if not stale:
            return
        settled = await self.store.settled(list(stale))
        for job_id in settled:
            await asyncio.to_thread(shutil.rmtree, stale[job_id], True)
            log.info("removed the orphaned temp dir of job %s", job_id)


def _stale_job_dirs(jobs_dir: Path, age_seconds: float) -> dict[uuid.UUID, Path]:
    # Newest mtime of the dir and its attempt subdirs: an attempt writing clips touches its own subdir only.
    found: dict[uuid.UUID, Path] = {}
    cutoff = time.time() - age_seconds
    try:
        entries = list(jobs_dir.iterdir())
    except FileNotFoundError:
        return found
    for entry in entries:
        try:
            job_id = uuid.UUID(entry.name)
            newest = max([entry.stat().st_mtime, *(sub.stat().st_mtime for sub in entry.iterdir())])
        except (ValueError, OSError):
            continue
        if newest < cutoff:
            found[job_id] = entry
    return found
