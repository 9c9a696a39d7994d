"""One attempt at one claimed job: the pipeline run, and the writes that record its outcome."""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db import JobStore, Webhook
from app.db.checkpoint import RedisCheckpoints
from app.db.retention import RetentionStore
from app.domain.errors import RETRYING
from app.domain.jobs import Job, JobRow
from app.domain.result import JobResult
from app.domain.spec import JobSpec
from app.media.ffmpeg import FFmpegError
from app.ops import logs, metrics
from app.ops.outages import log_trouble
from app.pipeline.editor import STAGE_NAMES, Hooks, SmartVideoEditor
from app.runner.failures import Failure, Outcome, classify
from app.runner.retention import discard_outputs
from app.stages.fetch import FetchProgress, Staged
from app.stages.verify import Verified
from app.storage import Media
from app.storage.sources import SourceError, SourceRules, stage_base, stage_source

log = logging.getLogger(__name__)

_PROGRESS_INTERVAL = 0.25  # seconds between progress writes (each notifies SSE): a smooth bar, light on the DB
_HAND_BACK_SECONDS = 5.0  # a job handed back because a service blinked is due again after about this


class Attempt:
    """One attempt at one job: runs the pipeline and turns its outcome into store writes."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: JobStore,
        retention: RetentionStore,
        editor: SmartVideoEditor,
        checkpoints: RedisCheckpoints,
        media: Media,
        job: JobRow,
        token: uuid.UUID,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_finished = on_finished  # e.g. wake the webhook sender: the final status has a delivery to send
        self.store = store
        self.retention = retention
        self.editor = editor
        self.job = job
        self.token = token
        self.stage = job.stage or STAGE_NAMES[0]
        self.checkpoints = checkpoints
        self.media = media
        self._last_progress = 0.0
        self._progress = job.progress

    async def run(self) -> None:
        settings, job_id = self.settings, str(self.job.id)
        job_dir = self.editor.work_dir(job_id)
        output = self.media.store.reel_target(job_id, job_dir)
        hooks = Hooks(on_stage=self._on_stage, on_progress=self._on_progress)

        async def fetch(into: Path, on_progress: FetchProgress) -> Staged:
            rules, spec = SourceRules.of(settings), self.job.spec
            if spec.based_on is not None:
                return await stage_base(str(spec.based_on), await self._base_spec(), self.media, rules, job_dir=into)
            return await stage_source(spec, self.media, rules, job_dir=into, on_progress=on_progress)

        try:
            await self.checkpoints.take_over(job_id)
            result = await self.editor.process_job(
                str(self.job.id),
                fetch,
                self.job.spec,
                output,
                checkpoints=self.checkpoints,
                attempt=self.token.hex[:12],
                hooks=hooks,
                publish=self._publish,
            )
        except Exception as exc:  # every failure, classified in runner/failures.py
            await self.failed(exc)
        else:
            await self.complete(result)

    async def _base_spec(self) -> JobSpec:
        """The spec of the job this one is based on; SourceError when that job is gone (purged with its files)."""
        assert self.job.spec.based_on is not None
        base = await self.store.get(self.job.spec.based_on)
        if base is None:
            raise SourceError("base_job_expired", f"Job {self.job.spec.based_on} is gone, and its files with it.")
        return base.spec

    async def _publish(self, verified: Verified, staged: Staged) -> None:
        """Hand the verified files to the store: the reel last, so a published reel means the rest is there too.

        The source is published too unless it lies under MEDIA_ROOT (kept there already): an upload, a URL's or
        an S3 object's copy, a base job's source, so the Studio can play it and a job based on this one reuse it,
        for as long as the reel is kept. A hard link on a local store; an upload to S3, or a copy inside the bucket
        of the base job's.
        """
        job_id, store = str(self.job.id), self.media.store
        for what, file in verified.extras().items():
            await store.publish(job_id, what, Path(file.path))
        spec = self.job.spec
        if spec.input_path is None:  # a base's published source is shared, not sent again
            base = spec.based_on
            if base is None or not await store.share(job_id, "source", str(base)):
                await store.publish(job_id, "source", Path(staged.path))
        await store.publish(job_id, "reel", Path(verified.reel.path))

    async def complete(self, result: JobResult) -> None:
        if await self.finish("completed", result=self._public_result(result)) != "completed":
            return
        metrics.segments_detected.observe(result.segments_processed)
        for segment in result.segments:
            metrics.highlight_score.observe(segment.score)
        for stage, seconds in result.stage_seconds.items():
            metrics.processing_ratio.labels(stage).set(seconds / max(result.source_duration, 1e-9))
        metrics.processing_ratio.labels("total").set(result.processing_ratio)
        if result.loudness_spread_lu is not None:
            metrics.loudness_spread.set(result.loudness_spread_lu)
        if result.audio_loudness is not None:
            metrics.output_loudness.set(result.audio_loudness)

    def _public_result(self, result: JobResult) -> dict[str, Any]:
        """The result as clients see it: URLs to download from, when the reel goes, server paths only if shared."""
        base, local = f"{self.settings.base_url}/jobs/{self.job.id}", self.media.store.shares_disk
        public = result.model_copy(
            update={
                "output_url": f"{base}/output",
                "thumbnail_url": f"{base}/thumbnail",
                "captions_url": f"{base}/captions" if result.captions_path is not None else None,
                "output_expires_at": datetime.now(UTC) + timedelta(seconds=self.settings.output_ttl),
                "output_expired": False,
                # A server path means nothing to a client of object storage.
                "output_path": result.output_path if local else None,
                "captions_path": result.captions_path if local else None,
            }
        )
        return public.model_dump(mode="json")

    async def fail(self, code: str, message: str, *, user: bool = False, details: dict[str, Any] | None = None) -> None:
        # A user's mistake (bad input) is counted apart, so the error-rate alert speaks of our failures only.
        (metrics.rejected_inputs.labels(code) if user else metrics.errors.labels(self.stage, code)).inc()
        error: dict[str, Any] = {"code": code, "message": message}
        if details is not None:
            error["details"] = details
        await self.finish("failed", error=error)

    async def failed(self, exc: Exception) -> None:
        """Hand back, retry or fail, as `classify` says; the cause goes to the log, the client gets the words."""
        failure = classify(exc, self.stage)
        if failure.outcome is Outcome.HAND_BACK:
            log.warning("job %s: %s in %s (%r); handing it back", self.job.id, failure.message, self.stage, exc)
            await self.hand_back(failure)
        elif failure.outcome is Outcome.RETRY:
            log.warning("job %s: %s in %s (%r)%s", self.job.id, failure.message, self.stage, exc, _tool_output(exc))
            await self.retry(failure)
        else:
            if failure.code == "processing_failed" and not isinstance(exc, FFmpegError):
                log.error("job %s: unexpected error in %s", self.job.id, self.stage, exc_info=exc)
            elif not failure.user:
                log.error("job %s: %s in %s (%r)%s", self.job.id, failure.code, self.stage, exc, _tool_output(exc))
            await self.fail(failure.code, failure.message, user=failure.user, details=failure.details)

    async def retry(self, failure: Failure) -> None:
        """Requeue the job with backoff after a passing trouble; a fault, so MAX_ATTEMPTS ends a trouble that stays."""
        if self.job.faults + 1 >= self.settings.max_attempts:  # this failure is one more fault
            await self.fail(
                "retries_exhausted", f"Gave up after {self.job.attempts} attempts; the last failure: {failure.message}."
            )
            return
        await self._requeue(failure, min(300.0, 5.0 * 2 ** (self.job.attempts - 1)), fault=True)

    async def hand_back(self, failure: Failure) -> None:
        """Requeue the job after a service it needs failed: not the job's fault, so no attempt is used up."""
        await self._requeue(failure, _HAND_BACK_SECONDS, fault=False)

    async def _requeue(self, failure: Failure, seconds: float, *, fault: bool) -> None:
        """Back to the queue, due in about `seconds` (jittered, so jobs that failed together do not return so)."""
        error = {"code": RETRYING, "message": f"Retrying after: {failure.message}."}
        await self.store.retry_later(self.job.id, self.token, seconds * random.uniform(0.5, 1.5), error, fault=fault)

    async def finish(
        self, status: str, *, error: dict[str, Any] | None = None, result: dict[str, Any] | None = None
    ) -> str | None:
        """Write the final status (and its webhook); then clean up. The status written (`cancelled` when the
        job's cancel was asked for meanwhile), None when the lease was lost."""
        row = await self.store.finish(
            self.job.id, self.token, status, result=result, error=error, webhook_for=job_webhook
        )
        if row is None:
            await self._discard_if_ended()
            return None
        if self.on_finished is not None:
            self.on_finished()
        metrics.jobs_finished.labels(row.status).inc()
        await self.checkpoints.clear(str(self.job.id))
        self._remove_temp_files()
        if row.status != "completed":  # a reel that failed verify, a poster published before a cancel: all go now
            await discard_outputs(self.media.store, self.retention, self.job.id)
        return row.status

    def _remove_temp_files(self) -> None:
        shutil.rmtree(self.editor.work_dir(str(self.job.id)), ignore_errors=True)
        self.media.store.discard_partial(str(self.job.id))

    async def _discard_if_ended(self) -> None:
        # The lease went while this attempt was publishing: if the job ended failed or cancelled meanwhile (a
        # cancel once the lease lapsed), what this attempt published after that deletion must go as well.
        job = await self.store.get(self.job.id)
        if job is not None and job.status in ("failed", "cancelled"):
            await discard_outputs(self.media.store, self.retention, self.job.id)

    async def stopped(self, reason: str | None) -> None:
        """The job's task was cancelled: record why, without raising."""
        try:
            if reason == "cancel":
                await self.finish("cancelled")
            elif reason == "shutdown":
                await self.store.release(self.job.id, self.token)
            elif reason == "lease":  # another worker owns the job now, or it ended: no write of ours would count
                await self._discard_if_ended()
        except Exception:
            log_trouble(log, "job %s: could not record the stop (%s)", self.job.id, reason, level=logging.ERROR)

    async def _on_stage(self, stage: str, event: str, seconds: float | None) -> None:
        clip = stage.startswith("segment:")  # clips are events, not metric labels
        if not clip:
            self.stage = stage
            logs.stage.set(stage)
            if event == "end" and seconds is not None:
                metrics.stage_duration.labels(stage).observe(seconds)
        # The job shows the stage it is in (and fails in) at once, not a second later; and each finished clip,
        # whose last progress the interval may have held back, so the bar never stays behind a rendered clip.
        if (event == "start" and not clip) or (event == "end" and clip):
            await self.store.set_progress(self.job.id, self.token, self.stage, self._progress)
        if not await self.store.record_event(self.job.id, self.token, stage, event, seconds):
            raise asyncio.CancelledError  # the lease is gone: stop working for nothing

    async def _on_progress(self, stage: str, progress: float) -> None:
        self._progress = progress
        now = time.monotonic()
        if now - self._last_progress < _PROGRESS_INTERVAL and progress < 1.0:
            return
        self._last_progress = now
        await self.store.set_progress(self.job.id, self.token, stage, progress)


def job_webhook(job: JobRow) -> Webhook | None:
    """The webhook of a job that just ended (`job.completed`, `job.failed`, `job.cancelled`); None without a URL."""
    url = job.spec.webhook_url
    if not url:
        return None
    event_type = f"job.{job.status}"
    return Webhook(
        event_type,
        url,
        {
            "type": event_type,
            "timestamp": job.updated_at.isoformat(),
            "data": Job.of(job).model_dump(mode="json"),
        },
    )


def _tool_output(exc: BaseException) -> str:
    """ffmpeg's last lines, for the log only."""
    return f": {exc.stderr_tail[-2000:]}" if isinstance(exc, FFmpegError) else ""
