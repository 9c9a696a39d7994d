"""Media routes: uploads in (streamed to the store), a finished job's reel out (a file, or a presigned URL)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel
from starlette.requests import ClientDisconnect

from app.api.deps import ClientDep, ServicesDep, signed_client
from app.api.docs import SIGNED_401, problems
from app.api.multipart import MultipartError, file_field
from app.api.problems import Problem
from app.domain.jobs import Owner
from app.service.signed_urls import SignedResource
from app.service.wiring import Services
from app.storage import ReelDownload
from app.storage.base import Output

router = APIRouter()

_REEL: dict[int | str, dict[str, Any]] = {
    200: {"content": {"video/mp4": {}}, "description": "the reel (with `Range`: 206 and that part)"},
    206: {"description": "the requested byte range of the reel"},
    304: {"description": "the reel has the ETag given in `If-None-Match`"},
    307: {"description": "object storage: a redirect to a fresh presigned URL of the reel"},
}

_CAPTIONS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/vtt": {}}, "description": "WebVTT captions timed to the reel"},
    304: _REEL[304],
    307: {"description": "object storage: a redirect to a fresh presigned URL of the captions"},
}

_THUMBNAIL: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "the poster frame"},
    304: _REEL[304],
    307: {"description": "object storage: a redirect to a fresh presigned URL of the poster frame"},
}


def _download_route(what: Output, path: str, operation_id: str, responses: dict[int | str, Any], doc: str) -> None:
    """Register GET `path`: one of the job's published files, served by `_download`, to a key or a signed URL."""
    signed = _SIGNED[what]
    reader = Depends(signed_client(signed))  # a default, not in the annotation: annotations are read as text

    async def route(
        job_id: uuid.UUID,
        services: ServicesDep,
        if_none_match: Annotated[str | None, Header()] = None,
        client: Owner = reader,
    ) -> Response:
        return await _download(services, job_id, client, what, if_none_match)

    doc += f"\n\nWithout a key, a signed URL opens it (`POST /jobs/{{job_id}}/signed-urls`, resource `{signed}`)."
    route.__name__, route.__doc__ = operation_id, doc  # the name gives the operation its summary
    # HEAD answers GET's headers (size, type, ETag) without the body; HTTP makes it implicit, so the spec lists GET.
    router.head(path, include_in_schema=False, response_class=Response)(route)
    router.get(
        path,
        operation_id=operation_id,
        tags=["jobs"],
        response_class=Response,
        responses={**responses, **problems(401, 404, 409, 410, 422, 429, 503, when={401: SIGNED_401})},
    )(route)


_SIGNED: dict[Output, SignedResource] = {
    "reel": SignedResource.output,
    "thumbnail": SignedResource.thumbnail,
    "captions": SignedResource.captions,
    "filmstrip": SignedResource.filmstrip,
}

_FILMSTRIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "the sprite: `filmstrip.count` tiles of the analysis"},
    304: _REEL[304],
    307: {"description": "object storage: a redirect to a fresh presigned URL of the sprite"},
}


_download_route(
    "reel",
    "/jobs/{job_id}/output",
    "get_job_output",
    _REEL,
    "Download the job's reel: ranges and ETags on this disk, a redirect to a presigned URL for S3.",
)
_download_route(
    "thumbnail",
    "/jobs/{job_id}/thumbnail",
    "get_job_thumbnail",
    _THUMBNAIL,
    "The reel's poster frame (JPEG), taken at its best-scored moment.",
)
_download_route(
    "captions",
    "/jobs/{job_id}/captions",
    "get_job_captions",
    _CAPTIONS,
    "The reel's captions (WebVTT) from the transcripts of its clips; 404 `captions_not_found` when none was heard.",
)


_download_route(
    "filmstrip",
    "/jobs/{job_id}/filmstrip",
    "get_job_filmstrip",
    _FILMSTRIP,
    "The source's filmstrip (JPEG): tiles from a keyframe-only decode, laid out as the analysis' `filmstrip` says.",
)


_SERVED: dict[Output, tuple[str, str]] = {
    "reel": ("video/mp4", "mp4"),
    "thumbnail": ("image/jpeg", "jpg"),
    "captions": ("text/vtt", "vtt"),
    "filmstrip": ("image/jpeg", "jpg"),
}


async def _download(
    services: Services, job_id: uuid.UUID, client: Owner, what: Output, if_none_match: str | None
) -> Response:
    download = await services.jobs.output(job_id, client, what)
    media_type, extension = _SERVED[what]
    return serve(download, media_type, f"{job_id}.{extension}", if_none_match)


def serve(download: ReelDownload, media_type: str, filename: str, if_none_match: str | None) -> Response:
    if download.url is not None:
        # Presigned afresh on every request, so a URL a client stored never expires early.
        return RedirectResponse(download.url, status_code=307)
    assert download.path is not None
    response = FileResponse(download.path, media_type=media_type, filename=filename, stat_result=download.stat)
    etag = response.headers["etag"]
    if if_none_match is not None and etag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"etag": etag})
    return response


@router.delete(
    "/jobs/{job_id}/output",
    operation_id="delete_job_output",
    status_code=204,
    tags=["jobs"],
    response_class=Response,
    responses={**problems(401, 404, 409, 410, 422, 429, 503)},
)
async def delete_job_output(job_id: uuid.UUID, services: ServicesDep, client: ClientDep) -> Response:
    """Delete the job's reel now (it would expire after OUTPUT_TTL); the job stays completed."""
    await services.jobs.delete_output(job_id, client)
    return Response(status_code=204)


class Upload(BaseModel):
    """A stored upload: pass `upload_id` as `input_upload` to POST /jobs before `expires_at`."""

    upload_id: uuid.UUID
    size: int
    sha256: str
    expires_at: datetime


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            # At least one byte: an empty upload is refused (400 empty_upload).
            "application/octet-stream": {"schema": {"type": "string", "format": "binary", "minLength": 1}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary", "minLength": 1}},
                }
            },
        },
    }
}


@router.post(
    "/uploads",
    operation_id="create_upload",
    status_code=201,
    response_model=Upload,
    tags=["uploads"],
    responses={
        **problems(
            400,
            401,
            413,
            422,
            429,
            503,
            when={
                413: "The upload is larger than MAX_INPUT_BYTES (`input_too_large`), or than the bytes the key's "
                "upload quota has left (`upload_quota_exceeded`)",
                429: "Too many requests this minute (`rate_limited`), or too many unexpired uploads for this API key "
                "(`upload_quota_exceeded`)",
            },
        )
    },
    openapi_extra=_UPLOAD_BODY,
)
async def create_upload(request: Request, services: ServicesDep, client: ClientDep) -> Upload:
    """Upload a source video (the raw body, or multipart field `file`), streamed to storage, up to MAX_INPUT_BYTES.

    Each API key may have MAX_UPLOADS_PER_KEY uploads of MAX_UPLOAD_BYTES_PER_KEY in all until their
    `expires_at`: beyond, 429 or 413 `upload_quota_exceeded`.
    """
    content_type = request.headers.get("content-type", "")
    body: AsyncIterator[bytes] = request.stream()
    if content_type.startswith("multipart/form-data"):
        body = file_field(body, content_type)
    length = request.headers.get("content-length", "")
    try:
        row = await services.uploads.receive(body, client, declared=int(length) if length.isdigit() else None)
    except MultipartError as exc:
        raise Problem(400, "invalid_multipart", f"The multipart body cannot be read: {exc}.") from exc
    except ClientDisconnect as exc:
        raise Problem(400, "upload_incomplete", "The upload was cut off before its end; nothing was kept.") from exc
    return Upload(upload_id=row.id, size=row.size, sha256=row.sha256, expires_at=row.expires_at)
