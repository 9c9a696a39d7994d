"""The HTTP endpoints: each parses the request, calls the job service and maps its refusals to problem+json."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.responses import StreamingResponse

from app.api.deps import ClientDep, ServicesDep, signed_client
from app.api.docs import SIGNED_401, problems
from app.api.problems import Problem
from app.api.schemas import (
    Health,
    JobCreate,
    JobEvent,
    JobPage,
    SignedUrl,
    SignedUrlCreate,
    WebhookDelivery,
    WebhookSecret,
)
from app.domain.jobs import Job, JobStatus, Owner
from app.net.webhooks import key_webhook_secret
from app.ops import metrics
from app.service.live import job_stream
from app.service.signed_urls import SignedResource

router = APIRouter()
JobId = Annotated[uuid.UUID, Path(description="the job's id, as `POST /jobs` returned it")]


@router.post(
    "/jobs",
    operation_id="create_job",
    status_code=202,
    response_model=Job,
    tags=["jobs"],
    responses={
        202: {
            "description": "Queued (or, for a repeated Idempotency-Key, the job it made the first time)",
            "headers": {"Location": {"description": "the job's URL", "schema": {"type": "string"}}},
            "links": {
                name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"}, "description": said}
                for name, operation, said in (
                    ("GetJob", "get_job", "the job's status, progress, result or error"),
                    ("CancelJob", "cancel_job", "cancel the job"),
                    ("GetJobOutput", "get_job_output", "the reel, once the job is completed"),
                )
            },
        },
        **problems(
            400,
            401,
            404,
            409,
            413,
            422,
            429,
            503,
            when={
                400: "The body is not JSON (`http_error`)",
                404: "`based_on` names no job of this API key (`base_job_not_found`)",
                409: "The job `based_on` names has not completed (`base_job_not_completed`)",
            },
        ),
    },
)
async def create_job(
    spec: JobCreate,
    response: Response,
    services: ServicesDep,
    client: ClientDep,
    idempotency_key: Annotated[
        str | None, Header(max_length=255, description="a retry with the same key and body returns the first job")
    ] = None,
) -> Job:
    """Queue a reel of one source: `input_path` (relative to MEDIA_ROOT), `input_url`, `input_upload`, or `based_on`
    (a completed job of this key, whose source and analysis are reused); returns at once with the job's id."""
    row, created = await services.jobs.submit(spec, client, idempotency_key=idempotency_key)
    if created:
        metrics.jobs_submitted.inc()
    response.headers["Location"] = f"/jobs/{row.id}"
    return Job.of(row)


@router.get(
    "/jobs/{job_id}",
    operation_id="get_job",
    response_model=Job,
    tags=["jobs"],
    responses=problems(401, 404, 422, 429, 503),
)
async def get_job(job_id: JobId, services: ServicesDep, client: ClientDep) -> Job:
    """A job's status, progress, and its result or error."""
    return Job.of(await services.jobs.get(job_id, client))


@router.get(
    "/jobs/{job_id}/events",
    operation_id="list_job_events",
    response_model=list[JobEvent],
    tags=["jobs"],
    responses=problems(401, 404, 422, 429, 503),
)
async def list_job_events(job_id: JobId, services: ServicesDep, client: ClientDep) -> list[JobEvent]:
    """The job's timeline: every stage and clip of every attempt, oldest first."""
    return [JobEvent(**e) for e in await services.jobs.events(job_id, client)]


@router.get(
    "/jobs/{job_id}/events/stream",
    operation_id="stream_job_events",
    response_class=StreamingResponse,
    tags=["jobs"],
    responses={
        200: {
            "description": "Server-Sent Events: `stage` (id = the event's id, data a JobEvent), `progress` (no id; "
            "data {stage, progress, status}; the current value is sent first on every connect, before the stage "
            "events missed, and never goes backwards), one final `job` (data a Job) before the stream ends, and "
            "`: ping` comments as heartbeats.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problems(401, 404, 422, 429, 503, when={401: SIGNED_401}),
    },
)
async def stream_job_events(
    job_id: JobId,
    services: ServicesDep,
    client: Annotated[Owner, Depends(signed_client(SignedResource.events))],
    last_event_id: Annotated[
        str | None,
        Header(
            pattern=r"^[0-9]{1,18}$",  # an SSE id is text; ours are the events' numbers
            description="resume: only stage events after this id are sent again",
        ),
    ] = None,
) -> StreamingResponse:
    """Live progress of a job until it ends, pushed as it happens (from any worker process).

    An EventSource, which cannot send a key, opens it with a signed URL (`POST /jobs/{job_id}/signed-urls`,
    resource `events`); the URL is checked as the stream opens, which then runs past its expiry.
    """
    await services.jobs.get(job_id, client)
    stream: AsyncIterator[str] = job_stream(
        services.feed,
        job_id,
        client_id=client.scope,
        last_event_id=int(last_event_id or 0),
        heartbeat=services.settings.sse_heartbeat_seconds,
    )
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy may hold events back
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


@router.post(
    "/jobs/{job_id}/signed-urls",
    operation_id="create_signed_url",
    response_model=SignedUrl,
    tags=["jobs"],
    responses=problems(
        400,
        401,
        404,
        422,
        429,
        503,
        when={
            400: "The body is not JSON (`http_error`)",
            404: "No such job for this API key (`job_not_found`), or the server has no signing key "
            "(`signed_urls_not_configured`)",
        },
    ),
)
async def create_signed_url(
    job_id: JobId, body: SignedUrlCreate, services: ServicesDep, client: ClientDep
) -> SignedUrl:
    """A short-lived URL (at most 15 min) that opens one resource of the job without an API key: the reel,
    thumbnail, captions or live events, for `<video>`, `<img>`, `<track>` and EventSource; the Studio's analysis,
    filmstrip and source likewise. It is bound to the
    job, the resource and the caller's key: another job's or resource's path refuses it (401
    `signed_url_invalid`), and so does every path once the key is revoked or the URL expired
    (`signed_url_expired`)."""
    signed = await services.jobs.sign_url(job_id, client, body.resource, expires_in=body.expires_in)
    return SignedUrl(resource=signed.resource, url=signed.url, expires_at=signed.expires_at)


@router.get(
    "/jobs",
    operation_id="list_jobs",
    response_model=JobPage,
    tags=["jobs"],
    responses=problems(401, 422, 429, 503),
)
async def list_jobs(
    services: ServicesDep,
    client: ClientDep,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            description="`next_cursor` of the previous page: any string of this form is a place in the list",
            json_schema_extra={"pattern": CURSOR_PATTERN},
        ),
    ] = None,
) -> JobPage:
    """Jobs newest first, optionally of one status."""
    before = _decode_cursor(cursor)
    rows = await services.jobs.page(client, status=status and status.value, limit=limit + 1, before=before)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return JobPage(items=[Job.of(r) for r in rows], next_cursor=next_cursor)


@router.delete(
    "/jobs/{job_id}",
    operation_id="cancel_job",
    status_code=202,
    response_model=Job,
    tags=["jobs"],
    responses=problems(401, 404, 409, 422, 429, 503),
)
async def cancel_job(job_id: JobId, services: ServicesDep, client: ClientDep) -> Job:
    """Cancel a queued or running job; a running one stops within seconds."""
    return Job.of(await services.jobs.cancel(job_id, client))


@router.get(
    "/webhooks/secret",
    operation_id="get_webhook_secret",
    response_model=WebhookSecret,
    tags=["webhooks"],
    responses=problems(401, 404, 429),
)
async def get_webhook_secret(services: ServicesDep, client: ClientDep) -> WebhookSecret:
    """The secret that signs the webhooks of the caller's jobs: verify deliveries with it."""
    base = services.settings.webhook_secret
    if not base:
        raise Problem(404, "webhooks_not_configured", "This server has no WEBHOOK_SECRET, so it sends no webhooks.")
    return WebhookSecret(secret=key_webhook_secret(base, client.key_id))


@router.get(
    "/jobs/{job_id}/webhooks",
    operation_id="list_job_webhooks",
    response_model=list[WebhookDelivery],
    tags=["webhooks"],
    responses=problems(401, 404, 422, 429, 503),
)
async def list_job_webhooks(job_id: JobId, services: ServicesDep, client: ClientDep) -> list[WebhookDelivery]:
    """The job's webhook deliveries, each with every attempt: when, the receiver's status, how long, what failed."""
    return [WebhookDelivery.of(d) for d in await services.jobs.webhooks(job_id, client)]


@router.post(
    "/jobs/{job_id}/webhooks/redeliver",
    operation_id="redeliver_job_webhook",
    status_code=202,
    response_model=WebhookDelivery,
    tags=["webhooks"],
    responses={
        202: {"description": "Queued: the delivery, pending and due now"},
        **problems(401, 404, 409, 422, 429, 503),
    },
)
async def redeliver_job_webhook(job_id: JobId, services: ServicesDep, client: ClientDep) -> WebhookDelivery:
    """Send the job's last webhook again, with its `webhook-id` and a fresh signature, within seconds; a failed
    attempt is retried as any other, while the delivery's retries last."""
    return WebhookDelivery.of(await services.jobs.redeliver_webhook(job_id, client))


@router.get("/healthz", operation_id="healthz", response_model=Health, tags=["health"])
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", operation_id="readyz", response_model=Health, tags=["health"], responses=problems(503))
async def readyz(services: ServicesDep) -> Health:
    """PostgreSQL and Redis answer."""
    checks = await services.jobs.ready()
    if any(v != "ok" for v in checks.values()):
        raise Problem(503, "not_ready", "A dependency is not answering.", headers={"Retry-After": "5"}, checks=checks)
    return Health(status="ok", checks=checks)


# A cursor is a place in the newest-first order: the created_at (microseconds since the epoch) and id of the last
# job of a page. Any string of this form is one; anything else is 422 invalid_cursor.
CURSOR_PATTERN = r"^[0-9]{1,16}-[0-9a-f]{32}$"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _encode_cursor(created_at: datetime, job_id: uuid.UUID) -> str:
    return f"{(created_at - _EPOCH) // _MICROSECOND}-{job_id.hex}"


def _decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if cursor is None:
        return None
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise Problem(422, "invalid_cursor", "cursor is not one this API returned; start again without it.")
    micros, job_id = cursor.split("-")
    return _EPOCH + int(micros) * _MICROSECOND, uuid.UUID(job_id)
