"""Media routes: a finished job's reel, served from this disk or by a redirect to a presigned URL."""

from __future__ import annotations

import os
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from fastapi.responses import FileResponse, RedirectResponse

from app.api.deps import ClientDep, ServicesDep
from app.api.problems import Problem
from app.api.routes import LIMITS, PROBLEM
from app.jobs import JobRefused

router = APIRouter()

_REEL: dict[int | str, dict[str, Any]] = {
    200: {"content": {"video/mp4": {}}, "description": "the reel (with `Range`: 206 and that part)"},
    206: {"description": "the requested byte range of the reel"},
    304: {"description": "the reel has the ETag given in `If-None-Match`"},
    307: {"description": "object storage: a redirect to a fresh presigned URL of the reel"},
}


@router.get(
    "/jobs/{job_id}/output",
    tags=["jobs"],
    response_class=Response,
    responses={**_REEL, **LIMITS, 404: PROBLEM, 409: PROBLEM},
)
async def get_job_output(
    job_id: uuid.UUID,
    services: ServicesDep,
    client: ClientDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Download the job's reel: ranges and ETags on this disk, a redirect to a presigned URL for S3."""
    try:
        download = await services.jobs.output(job_id, client)
    except JobRefused as exc:
        raise Problem(exc.status, exc.code, exc.message) from exc
    if download.url is not None:
        # Presigned afresh on every request, so an output_url a client stored never expires early.
        return RedirectResponse(download.url, status_code=307)
    assert download.path is not None
    response = FileResponse(
        download.path, media_type="video/mp4", filename=f"{job_id}.mp4", stat_result=os.stat(download.path)
    )
    etag = response.headers["etag"]
    if if_none_match is not None and etag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"etag": etag})
    return response
