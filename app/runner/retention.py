"""The retention sweep: expired reels and uploads deleted from the store, old finished jobs purged; and the
deletion of a failed or cancelled job's files, done as it ends and finished by the sweep."""

from __future__ import annotations

import logging
import uuid

from app.db.retention import RetentionStore
from app.storage import MediaStore

log = logging.getLogger(__name__)


async def discard_outputs(store: MediaStore, retention: RetentionStore, job_id: uuid.UUID) -> None:
    """Delete what a failed or cancelled job published (reel, poster, captions, a half-done upload), then say so.

    Nothing of such a job is ever served, so nothing waits for retention. The job's mark is cleared only once
    the files are gone: a deletion that fails (logged, never raised) or is cut off is done again by the sweep.
    """
    try:
        await store.delete_outputs(str(job_id))
        await retention.outputs_discarded(job_id)
    except Exception:
        log.warning("could not delete the files of job %s yet; the retention sweep will", job_id, exc_info=True)


class RetentionSweeper:
    """One pass deletes what outlived its time.

    `output_ttl`: seconds a reel is kept after its job completes (the job says when in `output_expires_at`);
    also how long a used upload is kept. `job_retention`: seconds a finished job is kept at all.
    Files are deleted before the job is marked, so a sweep cut off half-way is finished by the next one.
    """

    def __init__(
        self, retention: RetentionStore, store: MediaStore, *, output_ttl: float, job_retention: float
    ) -> None:
        self.retention = retention
        self.store = store
        self.output_ttl = output_ttl
        self.job_retention = job_retention

    async def sweep(self) -> None:
        """Files of failed and cancelled jobs, expired reels, expired uploads, then purged jobs (and their files)."""
        for job_id in await self.retention.outputs_to_discard():
            await discard_outputs(self.store, self.retention, job_id)  # one that fails is logged, and tried again
        for job_id in await self.retention.expired_outputs():
            await self.store.delete_outputs(str(job_id))
            await self.retention.mark_output_expired(job_id)
            log.info("deleted the expired reel of job %s", job_id)
        for upload_id in await self.retention.expired_uploads(self.output_ttl):
            await self.store.delete_upload(str(upload_id))
            await self.retention.forget_upload(upload_id)
        purged = await self.retention.purge_jobs(self.job_retention)
        for job_id in purged:
            await self.store.delete_outputs(str(job_id))
        if purged:
            log.info("purged %d finished job(s) past JOB_RETENTION", len(purged))
        # Transcripts are what people said: kept as long as jobs are, counted from their last use.
        if forgotten := await self.retention.purge_transcripts(self.job_retention):
            log.info("deleted %d transcript(s) unused for JOB_RETENTION", forgotten)
