"""The HTTP endpoints: thin, each delegating to the store, the runner or a check."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel

from app import metrics
from app.api.deps import ClientDep, ServicesDep
from app.api.problems import Problem
from app.jobs import JobRefused, JobView, Status
from app.sources import SourceError, SourceRules, check_source
from app.spec import JobSpec
from app.webhooks import check_target, key_webhook_secret

router = APIRouter()
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


class JobPage(BaseModel):
    """A page of jobs, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[JobView]
    next_cursor: str | None


class Health(BaseModel):
    """Liveness or readiness, with what was checked."""

    status: str
    checks: dict[str, str] = {}


class WebhookSecret(BaseModel):
    """The secret that signs this API key's webhooks (Standard Webhooks, `whsec_<base64>`)."""

    secret: str


LIMITS: dict[int | str, dict[str, Any]] = {401: PROBLEM, 413: PROBLEM, 429: PROBLEM}


@router.post(
    "/jobs", status_code=202, response_model=JobView, tags=["jobs"], responses={**LIMITS, 422: PROBLEM}
)
async def submit_job(
    spec: JobSpec,
    response: Response,
    services: ServicesDep,
    client: ClientDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> JobView:
    """Queue a reel of `input_path` (relative to MEDIA_ROOT) or `input_url`; returns at once with the job's id."""
    settings = services.settings
    try:
        await check_source(spec, services.media, SourceRules.of(settings))
    except SourceError as exc:
        raise Problem(422, exc.code, exc.message) from exc
    if spec.webhook_url is not None:
        if reason := await check_target(spec.webhook_url, allow_private=settings.webhook_allow_private):
            raise Problem(422, "invalid_webhook_url", reason)
        if not settings.webhook_secret:
            raise Problem(
                422,
                "webhooks_not_configured",
                "This server has no WEBHOOK_SECRET, so it cannot sign webhooks; omit webhook_url.",
            )
    body_hash = hashlib.sha256(json.dumps(spec.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    try:
        row, created = await services.jobs.submit(
            spec, client, idempotency_key=idempotency_key, request_hash=body_hash
        )
    except JobRefused as exc:
        raise Problem(exc.status, exc.code, exc.message) from exc
    if created:
        metrics.jobs_submitted.inc()
    response.headers["Location"] = f"/jobs/{row.id}"
    return JobView.of(row)


@router.get("/jobs/{job_id}", response_model=JobView, tags=["jobs"], responses={**LIMITS, 404: PROBLEM})
async def get_job(job_id: uuid.UUID, services: ServicesDep, client: ClientDep) -> JobView:
    """A job's status, progress, and its result or error."""
    try:
        return JobView.of(await services.jobs.get(job_id, client))
    except JobRefused as exc:
        raise Problem(exc.status, exc.code, exc.message) from exc


class JobEvent(BaseModel):
    """A stage (or clip, `segment:N`) starting, ending or being skipped thanks to a checkpoint."""

    attempt: int
    stage: str
    event: str
    seconds: float | None
    created_at: datetime


@router.get(
    "/jobs/{job_id}/events", response_model=list[JobEvent], tags=["jobs"], responses={**LIMITS, 404: PROBLEM}
)
async def job_events(job_id: uuid.UUID, services: ServicesDep, client: ClientDep) -> list[JobEvent]:
    """The job's timeline: every stage and clip of every attempt, oldest first."""
    try:
        return [JobEvent(**e) for e in await services.jobs.events(job_id, client)]
    except JobRefused as exc:
        raise Problem(exc.status, exc.code, exc.message) from exc


@router.get("/jobs", response_model=JobPage, tags=["jobs"], responses={**LIMITS, 422: PROBLEM})
async def list_jobs(
    services: ServicesDep,
    client: ClientDep,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> JobPage:
    """Jobs newest first, optionally of one status."""
    rows = await services.jobs.page(client, status=status, limit=limit + 1, before=_decode_cursor(cursor))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return JobPage(items=[JobView.of(r) for r in rows], next_cursor=next_cursor)


@router.delete(
    "/jobs/{job_id}",
    status_code=202,
    response_model=JobView,
    tags=["jobs"],
    responses={**LIMITS, 404: PROBLEM, 409: PROBLEM},
)
async def cancel_job(job_id: uuid.UUID, services: ServicesDep, client: ClientDep) -> JobView:
    """Cancel a queued or running job; a running one stops within seconds."""
    try:
        return JobView.of(await services.jobs.cancel(job_id, client))
    except JobRefused as exc:
        raise Problem(exc.status, exc.code, exc.message) from exc


@router.get("/webhooks/secret", response_model=WebhookSecret, tags=["webhooks"], responses={**LIMITS, 404: PROBLEM})
async def webhook_secret(services: ServicesDep, client: ClientDep) -> WebhookSecret:
    """The secret that signs the webhooks of the caller's jobs: verify deliveries with it."""
    base = services.settings.webhook_secret
    if not base:
        raise Problem(404, "webhooks_not_configured", "This server has no WEBHOOK_SECRET, so it sends no webhooks.")
    return WebhookSecret(secret=key_webhook_secret(base, client.key_id))


@router.get("/healthz", response_model=Health, tags=["health"])
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, tags=["health"], responses={503: PROBLEM})
async def readyz(services: ServicesDep) -> Health:
    """PostgreSQL and Redis answer."""
    checks: dict[str, str] = {}
    try:
        await services.store.pool.fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"error: {type(exc).__name__}"
    try:
        await services.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    if any(v != "ok" for v in checks.values()):
        raise Problem(503, "not_ready", "A dependency is not answering.", checks=checks)
    return Health(status="ok", checks=checks)


def _encode_cursor(created_at: datetime, job_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{job_id}".encode()).decode()


def _decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        created, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created), uuid.UUID(job_id)
    except ValueError as exc:
        raise Problem(422, "invalid_cursor", "cursor is not one this API returned; start again without it.") from exc
