"""A job as stored and as shown: the row the store returns and the public view of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.spec import JobSpec

Status = Literal["queued", "running", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


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


class JobError(BaseModel):
    """Why a job failed: a stable code and a sentence a person can act on."""

    code: str
    message: str
    details: dict[str, Any] | None = Field(
        default=None, description="the figures behind the failure, e.g. what verification measured"
    )


class JobView(BaseModel):
    """A job as the API and webhooks show it."""

    id: uuid.UUID
    status: Status
    stage: str | None = Field(description="the stage running now, or the last one reached")
    progress: float = Field(ge=0, le=1)
    attempts: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    input_path: str
    highlights: list[dict[str, Any]] | None
    output: dict[str, Any]
    webhook_url: str | None
    cancel_requested: bool
    error: JobError | None
    result: dict[str, Any] | None

    @classmethod
    def of(cls, row: JobRow) -> JobView:
        """The public view of a stored job."""
        spec = row.spec.model_dump(mode="json")
        return cls(
            id=row.id,
            status=row.status,
            stage=row.stage,
            progress=row.progress,
            attempts=row.attempts,
            created_at=row.created_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
            input_path=spec["input_path"],
            highlights=spec["highlights"],
            output=spec["output"],
            webhook_url=spec["webhook_url"],
            cancel_requested=row.cancel_requested,
            error=JobError(**row.error) if row.error else None,
            result=row.result,
        )
