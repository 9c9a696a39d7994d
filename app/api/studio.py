"""What the Studio page reads of a completed job besides its reel: the analysis JSON and the source itself."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from app.api.deps import ServicesDep, signed_client
from app.api.docs import SIGNED_401, problems
from app.api.media import serve
from app.domain.analysis import JobAnalysis
from app.domain.jobs import Owner
from app.service.signed_urls import SignedResource

router = APIRouter()

ANALYSIS_CACHE = "private, max-age=3600"  # written once, never changed; private: it is one key's
# Defaults, not in the annotation: annotations are read as text, and these are built here.
_ANALYSIS_READER = Depends(signed_client(SignedResource.analysis))
_SOURCE_READER = Depends(signed_client(SignedResource.source))
GZIP_ABOVE = 1024  # bytes: a smaller answer gains nothing from compression

_ANALYSIS: dict[int | str, dict[str, Any]] = {
    200: {"model": JobAnalysis, "description": "the analysis, with an ETag (it never changes once written)"},
    304: {"description": "the analysis has the ETag given in `If-None-Match`"},
}
_SOURCE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"video/mp4": {}},
        "description": "the source as the job read it (with `Range`: 206 and that part)",
    },
    206: {"description": "the requested byte range of the source"},
    304: {"description": "the source has the ETag given in `If-None-Match`"},
    307: {"description": "object storage: a redirect to a fresh presigned URL of the source"},
    416: {"description": "the `Range` lies outside the source"},
}


async def _analysis(
    job_id: uuid.UUID,
    services: ServicesDep,
    if_none_match: Annotated[str | None, Header()] = None,
    accept_encoding: Annotated[str | None, Header()] = None,
    client: Owner = _ANALYSIS_READER,
) -> Response:
    """The completed job's analysis: the source's timeline (loudness envelope, speech, pauses, shot cuts, the
    picker's per-second score and features, face tracks) and each clip's reasons and crop path.

    404 `analysis_not_found` until the job is completed, when it failed, and once its reel expired. Without a key,
    a signed URL opens it (`POST /jobs/{job_id}/signed-urls`, resource `analysis`)."""
    data = await services.studio.analysis(job_id, client)
    digest = hashlib.sha256(data).hexdigest()[:32]
    # An hour of source is some 500 KB of JSON, a fifth of that gzipped: worth it for a page that loads it first.
    zipped = "gzip" in (accept_encoding or "") and len(data) > GZIP_ABOVE
    etag = f'"{digest}-gzip"' if zipped else f'"{digest}"'  # each encoding its own tag, as a strong ETag must be
    headers = {"etag": etag, "cache-control": ANALYSIS_CACHE, "vary": "Accept-Encoding"}
    if if_none_match is not None and etag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    if zipped:
        data = await asyncio.to_thread(gzip.compress, data, 6)
        headers["content-encoding"] = "gzip"
    return Response(data, media_type="application/json", headers=headers)


async def _source(
    job_id: uuid.UUID,
    services: ServicesDep,
    if_none_match: Annotated[str | None, Header()] = None,
    client: Owner = _SOURCE_READER,
) -> Response:
    """The completed job's source as it was read, for a `<video>`: byte ranges (206, 416), ETags, HEAD.

    Only when the analysis says `source.playable` (H.264 with AAC or no audio, in MP4/MOV): else 404
    `source_not_playable`, and the filmstrip stands in. Kept as long as the reel. Without a key, a signed URL opens
    it (`POST /jobs/{job_id}/signed-urls`, resource `source`)."""
    download = await services.studio.source(job_id, client)
    return serve(download, "video/mp4", f"{job_id}.mp4", if_none_match)


for path, route, name, responses in (
    ("/jobs/{job_id}/analysis", _analysis, "get_job_analysis", _ANALYSIS),
    ("/jobs/{job_id}/source", _source, "get_job_source", _SOURCE),
):
    route.__name__ = name
    router.head(path, include_in_schema=False, response_class=Response)(route)
    router.get(
        path,
        operation_id=name,
        tags=["jobs"],
        response_class=Response,
        responses={**responses, **problems(401, 404, 422, 429, 503, when={401: SIGNED_401})},
    )(route)
