"""Jobs: the row the store returns, the public view of it, and the job service the API calls."""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from app.domain.spec import Highlight, JobSpec, OutputOptions
from app.stages.result import JobResult
from app.storage.base import SUFFIX

if TYPE_CHECKING:  # the store and the runner import this module for JobRow
    from redis.asyncio import Redis

    from app.config import Settings
    from app.db import JobStore, WebhookFor
    from app.db.retention import RetentionStore
    from app.db.uploads import UploadStore
    from app.runner.runner import Runner
    from app.storage import Media, ReelDownload
    from app.storage.base import Output

Status = Literal["queued", "running", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class JobStatus(enum.StrEnum):
    """Where a job is; the five values never grow (an expired reel is a flag of the result, not a status)."""

    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


@dataclass(frozen=True)
class JobRow:
    """One row of the jobs table."""

    id: uuid.UUID
    status: Status
    stage: str | None
    progress: float
    spec: JobSpec
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    lease_token: uuid.UUID | None
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    faults: int = 0  # claims that ended in a fault; only these count toward MAX_ATTEMPTS


JOB_ERROR_CODES = (
    "source_missing", "source_unreadable", "source_truncated", "unsupported_container", "unsupported_codec",
    "no_video_stream", "video_too_small", "duration_out_of_range", "hdr_unsupported", "no_clips_in_source",
    "quality_target_missed", "verification_failed", "retries_exhausted", "retrying",
)  # fmt: skip


class JobError(BaseModel):
    """Why a job failed: a stable code and a sentence a person can act on."""

    code: str = Field(
        description="stable, machine-readable; an open set (new codes may appear), known today: "
        + ", ".join(JOB_ERROR_CODES),
        examples=["hdr_not_supported"],
    )
    message: str
    details: dict[str, Any] | None = Field(
        default=None, description="the figures behind the failure, e.g. what verification measured"
    )


class Job(BaseModel):
    """A job as the API and webhooks show it."""

    model_config = ConfigDict(use_enum_values=True)

    id: uuid.UUID
    status: JobStatus
    stage: str | None = Field(description="the stage running now, or the last one reached")
    progress: float = Field(ge=0, le=1)
    attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    input_path: str | None
    input_url: str | None
    input_upload: uuid.UUID | None
    highlights: list[Highlight] | None
    output: OutputOptions
    webhook_url: str | None
    cancel_requested: bool
    error: JobError | None
    result: JobResult | None = Field(description="what was measured on the reel; set once the job is completed")

    @classmethod
    def of(cls, row: JobRow) -> Job:
        """The public view of a stored job."""
        spec = row.spec.model_dump(mode="json")
        return cls(
            id=row.id,
            status=JobStatus(row.status),
            stage=row.stage,
            progress=row.progress,
            attempts=row.attempts,
            created_at=row.created_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
            input_path=spec["input_path"],
            input_url=redact_url(spec.get("input_url")),
            input_upload=spec.get("input_upload"),
            highlights=spec["highlights"],
            output=spec["output"],
            webhook_url=redact_url(spec["webhook_url"]),
            cancel_requested=row.cancel_requested,
            error=JobError(**row.error) if row.error else None,
            result=JobResult.model_validate(row.result) if row.result else None,
        )


JobView = Job  # the name the runner and webhooks used before the schema was named for the spec


def redact_url(url: str | None) -> str | None:
    """`url` without userinfo, query or fragment: what views, lists, logs and webhooks may show."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
    except ValueError:  # unparseable: show nothing of it rather than a secret it may hold
        return "(invalid URL)"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass(frozen=True)
class Owner:
    """Who is asking: the id of their API key ('' while the API is open), and whether it is an admin key."""

    key_id: str
    admin: bool = False

    @property
    def scope(self) -> str | None:
        """The key whose jobs this caller may see; None for all (an admin)."""
        return None if self.admin else self.key_id


class JobRefused(Exception):
    """The job service refuses a request: an HTTP status, a stable code and a sentence a person can act on."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def request_fingerprint(spec: JobSpec) -> str:
    """What an Idempotency-Key is bound to: the request as sent, defaults left out.

    Without the defaults, a field added to the spec later (with a default that keeps today's behaviour) does
    not change the fingerprint of a request that never named it, so a retry that spans an upgrade still matches.
    """
    body = spec.model_dump(mode="json", exclude_defaults=True)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class JobService:
    """Submit, read, list and cancel jobs on behalf of one caller: each key sees only its own jobs."""

    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        *,
        redis: Redis,
        cancel_webhook: WebhookFor,
        runner: Runner | None = None,
        media: Media | None = None,
        uploads: UploadStore | None = None,
        retention: RetentionStore | None = None,
    ) -> None:
        self.store = store
        self.retention = retention
        self.uploads = uploads
        self.media = media
        self.settings = settings
        self.redis = redis
        self.cancel_webhook = cancel_webhook
        self.runner = runner

    async def submit(self, spec: JobSpec, owner: Owner, *, idempotency_key: str | None) -> tuple[JobRow, bool]:
        """Queue a job for `owner`, or return the one this idempotency key made (created=False)."""
        from app.db import IdempotencyConflict, QueueFull

        await self._check(spec)
        request_hash = request_fingerprint(spec)
        limit = self.settings.max_highlights
        if spec.highlights is not None and len(spec.highlights) > limit:
            raise JobRefused(
                422, "too_many_highlights", f"{len(spec.highlights)} highlights given; at most {limit} are accepted."
            )
        if spec.input_upload is not None and not await self._upload_usable(spec.input_upload, owner):
            # Another key's upload is refused exactly like an unknown id: its existence is not told.
            raise JobRefused(
                422, "upload_not_found", f"No upload {spec.input_upload} of yours (or it expired); upload again."
            )
        try:
            row, created = await self.store.create(
                spec,
                client_id=owner.key_id,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                max_queued=self.settings.max_queued_per_key,
            )
        except IdempotencyConflict as exc:
            raise JobRefused(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was already used with a different request body; use a new key.",
            ) from exc
        except QueueFull as exc:
            raise JobRefused(
                429,
                "too_many_queued_jobs",
                f"This API key already has {self.settings.max_queued_per_key} queued jobs; "
                "wait for some to start, or cancel some, then submit again.",
            ) from exc
        if spec.input_upload is not None and self.uploads is not None:
            await self.uploads.mark_used(spec.input_upload)
        return row, created

    async def _upload_usable(self, upload_id: uuid.UUID, owner: Owner) -> bool:
        return self.uploads is not None and await self.uploads.usable(upload_id, owner.key_id) is not None

    async def _check(self, spec: JobSpec) -> None:
        """Refuse a source the worker could never read, or a webhook this server may not or cannot send."""
        from app.net.webhooks import check_target
        from app.storage.sources import SourceError, SourceRules, check_source

        settings = self.settings
        try:
            if self.media is not None:
                await check_source(spec, self.media, SourceRules.of(settings))
        except SourceError as exc:
            raise JobRefused(422, exc.code, exc.message) from exc
        if spec.webhook_url is None:
            return
        if reason := await check_target(spec.webhook_url, allow_private=settings.webhook_allow_private):
            raise JobRefused(422, "invalid_webhook_url", reason)
        if not settings.webhook_secret:
            raise JobRefused(
                422,
                "webhooks_not_configured",
                "This server has no WEBHOOK_SECRET, so it cannot sign webhooks; omit webhook_url.",
            )

    async def ready(self) -> dict[str, str]:
        """Whether PostgreSQL and Redis answer: 'ok' or the error's type, per dependency."""
        checks: dict[str, str] = {}
        for name, ping in (("postgres", self.store.ping), ("redis", self.redis.ping)):
            try:
                await ping()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"error: {type(exc).__name__}"
        return checks

    async def get(self, job_id: uuid.UUID, owner: Owner) -> JobRow:
        """The job, if `owner` may see it; JobRefused 404 otherwise (another key's job is not found)."""
        row = await self.store.get(job_id, client_id=owner.scope)
        if row is None:
            raise JobRefused(404, "job_not_found", f"No job {job_id}.")
        return row

    async def events(self, job_id: uuid.UUID, owner: Owner) -> list[dict[str, Any]]:
        """The job's stage events, oldest first."""
        await self.get(job_id, owner)
        return await self.store.events(job_id)

    async def page(
        self, owner: Owner, *, status: str | None, limit: int, before: tuple[datetime, uuid.UUID] | None
    ) -> list[JobRow]:
        """The caller's jobs, newest first."""
        return await self.store.page(status=status, limit=limit, before=before, client_id=owner.scope)

    async def cancel(self, job_id: uuid.UUID, owner: Owner) -> JobRow:
        """Cancel a queued or running job of the caller's; a running one on this process stops at once."""
        row = await self.store.request_cancel(job_id, self.cancel_webhook, client_id=owner.scope)
        if row is None:
            raise JobRefused(404, "job_not_found", f"No job {job_id}.")
        if row.status in TERMINAL and row.status != "cancelled":
            raise JobRefused(409, "job_finished", f"Job {job_id} already {row.status}; there is nothing to cancel.")
        if self.runner is not None and row.status == "running":
            self.runner.cancel_local(job_id)
        return row

    async def output(self, job_id: uuid.UUID, owner: Owner, what: Output = "reel") -> ReelDownload:
        """How the caller downloads a completed job's reel, thumbnail or captions; JobRefused 404/409/410 if not."""
        row = await self._reel_of(job_id, owner)
        if what == "captions" and not (row.result or {}).get("captions_url"):
            raise JobRefused(
                404, "captions_not_found", f"Job {job_id} has no captions: none of its clips was transcribed."
            )
        name = f"{job_id}{SUFFIX[what]}"
        download = None if self.media is None else await self.media.store.download(str(job_id), what, filename=name)
        if download is None:
            raise JobRefused(404, "output_not_found", f"The {what} of job {job_id} is not stored.")
        return download

    async def delete_output(self, job_id: uuid.UUID, owner: Owner) -> None:
        """Delete a completed job's reel now; the job stays completed with `result.output_expired`."""
        await self._reel_of(job_id, owner)
        if self.media is not None:
            await self.media.store.delete_outputs(str(job_id))
        if self.retention is not None:
            await self.retention.mark_output_expired(job_id)

    async def _reel_of(self, job_id: uuid.UUID, owner: Owner) -> JobRow:
        # The job must be the caller's, completed, and its reel not yet expired (410: it existed, and is gone).
        row = await self.get(job_id, owner)
        if row.status != "completed":
            raise JobRefused(409, "output_not_ready", f"Job {job_id} is {row.status}; its reel exists once completed.")
        if (row.result or {}).get("output_expired"):
            raise JobRefused(410, "output_expired", f"The reel of job {job_id} has expired and was deleted.")
        return row
