"""A job as stored and as shown: its status, the row the store returns, the public view, who asks, and refusals."""

from __future__ import annotations

import enum
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from app.domain.errors import JOB_ERRORS, RETRYING
from app.domain.result import JobResult
from app.domain.spec import Highlight, JobSpec, OutputOptions

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


JOB_ERROR_CODES = (*JOB_ERRORS, RETRYING)


def open_set(known: dict[str, str]) -> str:
    """The description of a code field whose known values are `known` (code → meaning): new ones may appear."""
    lines = "\n".join(f"- `{code}`: {meaning}" for code, meaning in known.items())
    return f"Stable and machine-readable; an open set (accept a code you do not know). Known today:\n\n{lines}"


class JobError(BaseModel):
    """Why a job failed: a stable code and a sentence a person can act on."""

    code: str = Field(
        description=open_set(
            {code: e.meaning for code, e in JOB_ERRORS.items()}
            | {RETRYING: "not a failure: the job waits to be tried again"}
        ),
        examples=["hdr_unsupported"],
        json_schema_extra={"x-extensible-enum": list(JOB_ERROR_CODES)},
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
    based_on: uuid.UUID | None = Field(description="the job whose source and analysis this one reuses")
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
            based_on=spec.get("based_on"),
            highlights=spec["highlights"],
            output=spec["output"],
            webhook_url=redact_url(spec["webhook_url"]),
            cancel_requested=row.cancel_requested,
            error=JobError(**row.error) if row.error else None,
            result=JobResult.model_validate(row.result) if row.result else None,
        )


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


def key_id(key: str) -> str:
    """The id stored with a key's jobs: a short SHA-256 of the key, never the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class JobRefused(Exception):
    """The job service refuses a request: an HTTP status, a stable code and a sentence a person can act on;
    `retry_after`: seconds after which the same request may pass, when the refusal is temporary."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
