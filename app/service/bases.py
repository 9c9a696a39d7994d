"""A job `based_on` another: what the base must be, and what the new job takes from it at submit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.domain.jobs import JobRefused, Owner
from app.domain.spec import JobSpec

if TYPE_CHECKING:
    from app.db import JobStore


async def on_base(store: JobStore, spec: JobSpec, owner: Owner) -> JobSpec:
    """The spec of a job based on another: that job must be the caller's, completed, its files still kept.

    An `output` left out is the base job's, so "render again" with new highlights keeps the reel's shape.
    """
    assert spec.based_on is not None
    base = await store.get(spec.based_on, client_id=owner.scope)
    if base is None:
        raise JobRefused(404, "base_job_not_found", f"No job {spec.based_on} to base a job on.")
    if base.status != "completed":
        raise JobRefused(
            409,
            "base_job_not_completed",
            f"Job {spec.based_on} is {base.status}: a job can be based only on a completed one.",
        )
    if (base.result or {}).get("output_expired"):
        raise JobRefused(
            422,
            "base_job_expired",
            f"The files of job {spec.based_on} expired or were deleted: submit its source again.",
        )
    return spec if "output" in spec.model_fields_set else spec.model_copy(update={"output": base.spec.output})
