"""The Studio: a web page, served at /studio, to submit videos, see why each clip was picked, adjust and render again.

The page is static (`app/api/web/`: HTML, CSS and ES modules, no build step) and speaks only the public API,
from the same origin with the same keys; `<video>`, `<img>`, `<track>` and EventSource use signed URLs. Its
routes are no part of the contract, so the OpenAPI schema leaves them out.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

from app.api.deps import ServicesDep
from app.api.problems import Problem
from app.config import Settings

router = APIRouter(include_in_schema=False)
ASSETS = Path(__file__).with_name("web")
_TYPES = {".js": "text/javascript", ".css": "text/css"}
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # signed URLs are in the page's requests: none leaks to another site
    "Cache-Control": "no-cache",  # revalidated by ETag: a new release's page is seen at once
}


def content_security_policy(settings: Settings) -> str:
    """The page's policy: its own scripts and styles only, no inline ones (text a job carries, a path, a URL, an
    error, could not run if it ever reached the page as markup), and nothing fetched but the API's own paths,
    except the reel, poster, filmstrip and source that an S3 store redirects to its presigned URLs."""
    media = "'self'"
    if settings.storage_url:
        endpoint = settings.s3_public_endpoint_url or settings.s3_endpoint_url
        parts = urlsplit(endpoint) if endpoint else None
        media += f" {parts.scheme}://{parts.netloc}" if parts and parts.netloc else " https://*.amazonaws.com"
    return (
        f"default-src 'self'; img-src {media}; media-src {media}; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


def _page(settings: Settings) -> FileResponse:
    headers = {**_HEADERS, "Content-Security-Policy": content_security_policy(settings)}
    return FileResponse(ASSETS / "index.html", media_type="text/html; charset=utf-8", headers=headers)


@router.get("/studio")
async def studio(services: ServicesDep) -> FileResponse:
    """The jobs list and the submit form."""
    return _page(services.settings)


@router.get("/studio/")
async def studio_slash() -> RedirectResponse:
    """/studio/ is /studio: the page has one address, so a link or bookmark to it is one."""
    return RedirectResponse("/studio", status_code=308)


@router.get("/studio/jobs/{job_id}")
async def studio_job(job_id: uuid.UUID, services: ServicesDep) -> FileResponse:
    """A job's page; the script reads the id from the address and asks the API for the job."""
    return _page(services.settings)


@router.get("/studio/assets/{name}")
async def studio_asset(name: str) -> FileResponse:
    """One of the page's own files: its stylesheet and scripts, by name (no sub-folders)."""
    path = ASSETS / name
    media_type = _TYPES.get(path.suffix)
    if media_type is None or "/" in name or name.startswith(".") or not path.is_file():
        raise Problem(404, "not_found", f"The Studio has no file {name!r}.")
    return FileResponse(path, media_type=f"{media_type}; charset=utf-8", headers=_HEADERS)
