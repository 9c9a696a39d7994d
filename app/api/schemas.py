"""The API's request and response models, named as the OpenAPI spec names them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.domain.errors import PROBLEMS
from app.domain.jobs import Job, JobStatus, open_set
from app.domain.spec import SOURCE_FIELDS, JobSpec
from app.service.signed_urls import DEFAULT_LIFETIME, MAX_LIFETIME, SignedResource

# Open sets: a client must accept a code it does not know yet; these are the ones known today.
PROBLEM_CODES = tuple(PROBLEMS)
EXAMPLE_SPEC: dict[str, Any] = {
    "input_path": "talk.mp4",
    "highlights": [
        {"start_time": 5, "end_time": 25, "score": 0.9, "transition": "fade"},
        {"start_time": 40, "end_time": 60, "score": 0.7},
    ],
    "output": {"aspect_ratio": "9:16", "resolution": "1080p"},
}


# Exactly one source, in the schema as the model checks it: not none of them (each absent or null), and not two.
# As `not`, which generators of clients pass over, so JobCreate stays one type with four optional fields.
_SOURCES = SOURCE_FIELDS
_NONE: JsonValue = {"properties": {name: {"type": "null"} for name in _SOURCES}}
_TWO: list[JsonValue] = [
    {"required": [a, b], "properties": {a: {"type": "string"}, b: {"type": "string"}}}
    for i, a in enumerate(_SOURCES)
    for b in _SOURCES[i + 1 :]
]
_ONE_SOURCE: dict[str, JsonValue] = {"not": {"anyOf": [_NONE, *_TWO]}}


class JobCreate(JobSpec):
    """A reel to make: one source, optional highlights (else clips are picked from the media), output options."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE_SPEC], **_ONE_SOURCE})


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error response."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/job_not_found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "No job 0b6f9c1e-9d9a-4a57-9d54-1c1f0f7e8a21.",
                    "instance": "/jobs/0b6f9c1e-9d9a-4a57-9d54-1c1f0f7e8a21",
                    "code": "job_not_found",
                    "request_id": "5f0c2b7e9a4d4c4e8f1a2b3c4d5e6f70",
                }
            ]
        },
    )

    type: str = Field(description="a URI reference naming the problem type: /problems/<code>")
    title: str
    status: int
    detail: str = Field(description="what went wrong, in a sentence a person can act on")
    instance: str | None = None
    code: str = Field(
        description=open_set({p.code: f"({'/'.join(map(str, p.statuses))}) {p.meaning}" for p in PROBLEMS.values()}),
        examples=["job_not_found", "invalid_request"],
        json_schema_extra={"x-extensible-enum": list(PROBLEM_CODES)},
    )
    request_id: str | None = Field(
        default=None, description="this request's id, also in the X-Request-Id header: quote it, the log has it"
    )
    errors: list[FieldError] | None = Field(default=None, description="invalid_request: each field and its fault")
    checks: dict[str, str] | None = Field(default=None, description="not_ready: each dependency and its state")


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str
    message: str


class JobPage(BaseModel):
    """A page of jobs, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[Job]
    next_cursor: str | None


class JobEvent(BaseModel):
    """A stage (or clip, `segment:N`) starting, ending or being skipped thanks to a checkpoint."""

    id: int = Field(
        description="the event's number in its job, increasing in the order events are recorded (a later "
        "number is never recorded before an earlier one); the SSE stream's event id"
    )
    attempt: int
    stage: str
    event: str = Field(
        description="start, end or skip; reuse: analyze used a base job's analysis (`based_on`), decoding nothing "
        "(an open set)"
    )
    seconds: float | None
    created_at: datetime


class Health(BaseModel):
    """Liveness or readiness, with what was checked."""

    status: str
    checks: dict[str, str] = {}


class WebhookSecret(BaseModel):
    """The secret that signs this API key's webhooks (Standard Webhooks, `whsec_<base64>`)."""

    secret: str


_SIGNED_EXAMPLE: dict[str, JsonValue] = {
    "resource": "output",
    "url": "/jobs/0b6f9c1e-9d9a-4a57-9d54-1c1f0f7e8a21/output"
    "?expires=1767607200&signature=vHffJ6HbooxzxL0ci3zcMBto7QvW1ioyBwBDCyqt4Yc",
    "expires_at": "2026-01-05T10:00:00Z",
}


class SignedUrlCreate(BaseModel):
    """Which resource of the job to sign, and for how long."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"resource": "output", "expires_in": 600}]}
    )

    resource: SignedResource = Field(
        description="output: the reel; thumbnail: its poster frame; captions: its WebVTT; events: the live "
        "progress stream (`GET /jobs/{job_id}/events/stream`, for an EventSource); analysis: its analysis JSON; "
        "filmstrip: the source's filmstrip; source: the source itself (for a `<video>`)"
    )
    expires_in: int = Field(
        default=DEFAULT_LIFETIME, ge=1, le=MAX_LIFETIME, description="seconds the URL works, at most 900 (15 min)"
    )


class SignedUrl(BaseModel):
    """A URL that opens one resource of one job without an API key until `expires_at`: for `<video>`, `<img>`,
    `<track>` and EventSource, which cannot send headers. Revoking the key that minted it revokes it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_SIGNED_EXAMPLE]})

    resource: SignedResource
    url: str = Field(description="path and query, relative to the API's base URL; use it as it is")
    expires_at: datetime


class WebhookAttempt(BaseModel):
    """One attempt at a delivery: when it ended, the receiver's answer or why there was none, how long it took."""

    attempt: int = Field(description="1 for the first; counts on across redeliveries")
    created_at: datetime = Field(description="when the attempt ended and was recorded")
    status_code: int | None = Field(description="the receiver's HTTP status; null when it gave none")
    duration_ms: float
    error: str | None = Field(
        description="why it is not a delivery: a status other than 2xx, no answer within the attempt's deadline, "
        "a refused address, a connection error; null when delivered"
    )
    response_excerpt: str | None = Field(description="the start of the receiver's answer body (at most 2 KiB)")


class WebhookDelivery(BaseModel):
    """One webhook of a job: an event, sent with one `webhook-id` until a receiver answers 2xx or retries run out."""

    id: uuid.UUID
    webhook_id: str = Field(description="the `webhook-id` header of every attempt: deduplicate on it")
    event_type: str = Field(description="job.completed, job.failed or job.cancelled (an open set)")
    status: str = Field(description="pending (sent again at `next_attempt_at`), delivered or failed (an open set)")
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None = Field(description="when a pending delivery is due; null otherwise")
    attempts: list[WebhookAttempt] = Field(description="oldest first")

    @classmethod
    def of(cls, delivery: dict[str, Any]) -> WebhookDelivery:
        """The API's view of a delivery as the outbox lists it."""
        tries = [WebhookAttempt(**t) for t in delivery["tries"]]
        return cls(**{**delivery, "attempts": tries})


class WebhookEvent(BaseModel):
    """The body of a webhook delivery: the event type and the job as `GET /jobs/{id}` shows it."""

    type: str = Field(description="job.completed, job.failed or job.cancelled (an open set)")
    timestamp: datetime
    data: Job


Problem.model_rebuild()
__all__ = ["JobStatus"]
