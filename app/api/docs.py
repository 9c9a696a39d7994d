"""The OpenAPI contract beyond what routes declare: problem+json errors, webhooks, and the committed spec.

`python -m app.api > openapi.json` (`make openapi`) writes the spec that is committed; a test fails
when the app's spec drifts from it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Header

from app.api.request_schemas import split_request_schemas
from app.api.schemas import Problem, WebhookEvent
from app.domain.jobs import Job, JobStatus
from app.domain.spec import Highlight, OutputOptions

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_JOB_REF = {"$ref": "#/components/schemas/Job"}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
_WHEN = {
    400: "The upload's body cannot be read (empty, a broken multipart body, or cut off before its end)",
    401: "No valid API key (send `Authorization: Bearer <key>` or `X-API-Key`)",
    404: "No such job for this API key (another key's job is not found either), or the job has none of what is "
    "asked for (captions, a webhook)",
    409: "The job is not in a state for this: already finished (cancel), not completed yet (its output), or its "
    "webhook not written yet or being sent (redeliver)",
    410: "The job's reel existed and has expired (OUTPUT_TTL) or was deleted",
    413: "The request body is larger than MAX_BODY_BYTES",
    422: "The request is invalid: the problem's `code` and `detail` say what to fix",
    429: "Too many requests this minute, too many queued jobs, or too many unexpired uploads, for this API key",
    503: "PostgreSQL or Redis is not answering; retry after `Retry-After` seconds",
}
# The 401 of an operation a signed URL opens (POST /jobs/{job_id}/signed-urls) as well as a key.
SIGNED_401 = (
    "No valid API key, and no signed URL (`unauthorized`); or a signed URL that expired (`signed_url_expired`), "
    "or is not one for this job and resource, or whose key was revoked (`signed_url_invalid`)"
)
# Built from the model, so it holds every field the schema requires (a test validates every example of the spec).
JOB_EXAMPLE: dict[str, Any] = Job(
    id=uuid.UUID("0b6f9c1e-9d9a-4a57-9d54-1c1f0f7e8a21"),
    status=JobStatus.running,
    stage="render",
    progress=0.42,
    attempts=1,
    created_at=datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
    updated_at=datetime(2026, 1, 5, 10, 0, 31, tzinfo=UTC),
    finished_at=None,
    input_path="talk.mp4",
    input_url=None,
    input_upload=None,
    based_on=None,
    highlights=[Highlight(start_time=5, end_time=25, score=0.9, transition="fade")],
    output=OutputOptions(aspect_ratio="9:16", resolution="1080p"),
    webhook_url=None,
    cancel_requested=False,
    error=None,
    result=None,
).model_dump(mode="json")


def problems(*statuses: int, when: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for these error statuses: each a Problem under application/problem+json; `when` says
    what a status means for this operation where the general sentence would mislead."""
    said = _WHEN | (when or {})
    return {status: {"model": Problem, "description": said[status]} for status in statuses}


def install_webhooks(app: FastAPI) -> None:
    """Document the webhook deliveries (OpenAPI 3.1 `webhooks`), with the Standard Webhooks headers."""
    for event, summary in (
        ("job.completed", "A job finished and its reel passed verification"),
        ("job.failed", "A job failed; `data.error` says why"),
        ("job.cancelled", "A job was cancelled"),
    ):

        async def deliver(
            body: WebhookEvent,
            webhook_id: Annotated[str, Header(alias="webhook-id", description="stable across retries")],
            webhook_timestamp: Annotated[int, Header(alias="webhook-timestamp", description="Unix seconds")],
            webhook_signature: Annotated[
                str,
                Header(
                    alias="webhook-signature",
                    description='v1,<base64 HMAC-SHA256 of "id.timestamp.body"> with your key\'s secret '
                    "(GET /webhooks/secret); verify with the standardwebhooks library",
                ),
            ],
        ) -> None:
            """Answer 2xx within 15 s; anything else is retried with growing backoff for a day. Only the start of
            your answer's body is read (2 KiB), and kept with the attempt (`GET /jobs/{job_id}/webhooks`)."""

        app.webhooks.post(event, operation_id=event.replace(".", "_"), summary=summary, status_code=204)(deliver)


def _data(event: str, schema: dict[str, Any], *, with_id: bool) -> dict[str, Any]:
    """One kind of SSE event, as a client's parser sees it: `data` is JSON text of `schema`."""
    properties: dict[str, Any] = {
        "event": {"const": event},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": schema},
    }
    required = ["event", "data"]
    if with_id:
        properties["id"] = {"type": "string", "pattern": "^[0-9]+$", "description": "the JobEvent's id"}
        required.append("id")
    return {"title": f"{event} event", "required": required, "properties": properties}


# GET /jobs/{job_id}/events/stream: each event is {event, data, id?, retry?} and its `event` says what `data` is.
_SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
    "oneOf": [
        _data("stage", {"$ref": "#/components/schemas/JobEvent"}, with_id=True),
        _data("progress", {"$ref": "#/components/schemas/JobProgress"}, with_id=False),
        _data("job", _JOB_REF, with_id=False),
    ],
}
_JOB_PROGRESS = {
    "type": "object",
    "title": "JobProgress",
    "description": "The data of a `progress` event: the job's stage, progress (never backwards) and status.",
    "required": ["stage", "progress", "status"],
    "properties": {
        "stage": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "status": {"$ref": "#/components/schemas/JobStatus"},
    },
}


def _not_null(parameter: dict[str, Any]) -> None:
    """A parameter left out is absent, never null: its schema without the `null` FastAPI adds to an optional one."""
    schema = parameter.get("schema", {})
    branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1 and len(schema["anyOf"]) == 2:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        parameter["schema"] = {**branches[0], **rest}


def contract(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI spec, with every error response a Problem under application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = FastAPI.openapi(app)
    for path in [*spec.get("paths", {}).values(), *spec.get("webhooks", {}).values()]:
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                _not_null(parameter)
            for status, response in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {"application/problem+json": {"schema": _PROBLEM_REF}}
                    if status in ("429", "503"):
                        response["headers"] = _RETRY_AFTER
                elif response.get("content", {}).get("application/json", {}).get("schema") == _JOB_REF:
                    # Set here, after FastAPI's encoding of the spec, which drops every null (and so required fields).
                    response["content"]["application/json"]["example"] = JOB_EXAMPLE
                elif "text/event-stream" in response.get("content", {}):
                    response["content"] = {"text/event-stream": {"schema": _SSE_EVENT}}
    schemas = spec["components"]["schemas"]
    schemas["JobProgress"] = _JOB_PROGRESS
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    split_request_schemas(spec)
    app.openapi_schema = spec
    return spec

