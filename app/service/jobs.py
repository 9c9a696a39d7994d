"""The job service: submit, read, list, cancel and download on behalf of one caller, for the API, CLI and feed."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.domain.jobs import TERMINAL, JobRefused, JobRow, Owner
from app.domain.spec import JobSpec
from app.service.bases import on_base
from app.service.signed_urls import PATHS, SignedResource, UrlSigner
from app.storage.base import SUFFIX

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from app.config import Settings
    from app.db import JobStore, WebhookFor, WebhookOutbox
    from app.db.retention import RetentionStore
    from app.db.uploads import UploadStore
    from app.runner.runner import Runner
    from app.storage import Media, ReelDownload
    from app.storage.base import Output


def request_fingerprint(spec: JobSpec) -> str:
    """What an Idempotency-Key is bound to: the request as sent, defaults left out.

    Without the defaults, a field added to the spec later (with a default that keeps today's behaviour) does
    not change the fingerprint of a request that never named it, so a retry that spans an upgrade still matches.
    """
    body = spec.model_dump(mode="json", exclude_defaults=True)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class SignedUrl:
    """A signed URL of one resource of one job: its path and query (relative to the API), and when it expires."""

    resource: SignedResource
    url: str
    expires_at: datetime


class JobService:
    """Submit, read, list and cancel jobs on behalf of one caller: each key sees only its own jobs."""

    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        *,
        redis: Redis,
        cancel_webhook: WebhookFor,
        outbox: WebhookOutbox,
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
        self.outbox = outbox
        self.runner = runner
        self.signer = UrlSigner.of(settings.webhook_secret, settings.api_keys, settings.admin_api_keys)

    async def submit(self, spec: JobSpec, owner: Owner, *, idempotency_key: str | None) -> tuple[JobRow, bool]:
        """Queue a job for `owner`, or return the one this idempotency key made (created=False)."""
        from app.db import IdempotencyConflict, QueueFull

        request_hash = request_fingerprint(spec)
        if spec.based_on is not None:
            spec = await on_base(self.store, spec, owner)
        await self._check(spec)
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
        from app.net.guard import check_target
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
        """Cancel a queued or running job of the caller's; a running one on this process stops at once.

        A job cancelled here (queued, or running on a worker that vanished) may have published files in an
        earlier attempt: they are deleted now. A running one's worker deletes its own as it stops.
        """
        from app.runner.retention import discard_outputs

        row = await self.store.request_cancel(job_id, self.cancel_webhook, client_id=owner.scope)
        if row is None:
            raise JobRefused(404, "job_not_found", f"No job {job_id}.")
        if row.status in TERMINAL and row.status != "cancelled":
            raise JobRefused(409, "job_finished", f"Job {job_id} already {row.status}; there is nothing to cancel.")
        if self.runner is not None and row.status == "running":
            self.runner.cancel_local(job_id)
        if row.status == "cancelled" and self.media is not None and self.retention is not None:
            await discard_outputs(self.media.store, self.retention, job_id)
        return row

    async def webhooks(self, job_id: uuid.UUID, owner: Owner) -> list[dict[str, Any]]:
        """The job's webhook deliveries, oldest first, each with its attempts (`tries`)."""
        await self.get(job_id, owner)
        return await self.outbox.deliveries(job_id)

    async def redeliver_webhook(self, job_id: uuid.UUID, owner: Owner) -> dict[str, Any]:
        """Queue the job's last webhook to be sent again at once; JobRefused 404/409 when there is none to send."""
        from app.db import DeliveryInFlight

        row = await self.get(job_id, owner)
        try:
            delivery_id = await self.outbox.redeliver(job_id)
        except DeliveryInFlight as exc:
            raise JobRefused(
                409, "webhook_in_flight", f"The webhook of job {job_id} is being sent now; see its attempts."
            ) from exc
        if delivery_id is None and row.spec.webhook_url is None:
            raise JobRefused(404, "webhook_not_found", f"Job {job_id} has no webhook_url: it sends no webhooks.")
        if delivery_id is None:
            raise JobRefused(
                409, "webhook_not_sent", f"Job {job_id} is {row.status}: its webhook is written when it ends."
            )
        return next(d for d in await self.outbox.deliveries(job_id) if d["id"] == delivery_id)

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

    async def sign_url(
        self, job_id: uuid.UUID, owner: Owner, resource: SignedResource, *, expires_in: int
    ) -> SignedUrl:
        """A URL that opens `resource` of the caller's job without a key for `expires_in` seconds (≤ 15 min)."""
        await self.get(job_id, owner)
        if self.signer is None:
            raise JobRefused(
                404,
                "signed_urls_not_configured",
                "This server has no WEBHOOK_SECRET, from which signed URLs take their key; use the API key.",
            )
        expires = int(time.time()) + expires_in
        signature = self.signer.sign(job_id, resource, expires, owner.key_id)
        path = PATHS[resource].format(job_id=job_id)
        return SignedUrl(
            resource, f"{path}?expires={expires}&signature={signature}", datetime.fromtimestamp(expires, UTC)
        )

    def signed_owner(
        self, job_id: uuid.UUID, resource: SignedResource, *, expires: int | None, signature: str | None
    ) -> Owner:
        """Who a signed URL of `resource` of `job_id` was minted for; JobRefused 401 when it is not valid now."""
        if self.signer is None:
            raise JobRefused(401, "signed_url_invalid", "This server has no signing key: use the API key.")
        return self.signer.owner(job_id, resource, expires, signature)

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
