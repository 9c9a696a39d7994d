"""Fetching an `input_url` over HTTP(S): the SSRF guard of webhooks on every hop, pinned connections, caps."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from app.domain.errors import TransientError
from app.net.guard import (
    Resolver,
    UnsafeTarget,
    check_url,
    host_and_port,
    pinned,
    resolve_public,
    system_resolver,
    tls_context,
)
from app.storage.base import ObjectError, Progress, save_stream
from app.storage.s3 import CHUNK

MAX_REDIRECTS = 5
_NOT_VIDEO = ("text/", "application/json", "application/xml", "application/xhtml")
_HTML_STARTS = (b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")


@dataclass(frozen=True)
class FetchLimits:
    """What a download may do: reach private addresses, use plain http, take how many bytes and seconds."""

    allow_private: bool
    allow_http: bool
    max_bytes: int
    seconds: float


def url_refusal(url: str, *, allow_http: bool) -> str | None:
    """Why `url` can never be an input URL (scheme, host, credentials), or None."""
    if reason := check_url(url, field="input_url"):
        return reason
    if urlsplit(url).scheme != "https" and not allow_http:
        return "input_url must be an https:// (or s3://) URL"
    return None


async def fetch(
    url: str,
    dest: Path,
    limits: FetchLimits,
    *,
    resolver: Resolver = system_resolver,
    on_progress: Progress | None = None,
) -> tuple[int, str]:
    """Download `url` into `dest` (through a temp name), hashing as it streams; returns (size, sha256).

    Raises ObjectError for what no retry mends (404, 403, too large, not a video, a refused address) and
    TransientError for what may pass later (5xx, a dropped connection).
    """
    try:
        async with asyncio.timeout(limits.seconds):
            return await _follow(url, dest, limits, resolver, on_progress)
    except TimeoutError:
        raise ObjectError("input_timeout", f"input_url did not download within {limits.seconds:.0f} s.") from None


async def _follow(
    url: str, dest: Path, limits: FetchLimits, resolver: Resolver, on_progress: Progress | None
) -> tuple[int, str]:
    origin: tuple[str, int] | None = None
    async with httpx.AsyncClient(follow_redirects=False, timeout=30.0, verify=tls_context()) as client:
        for hop in range(MAX_REDIRECTS + 1):
            if reason := url_refusal(url, allow_http=limits.allow_http):
                raise ObjectError("input_url_refused", f"{reason} (after a redirect)" if hop else reason)
            parts = urlsplit(url)
            host, port = host_and_port(parts)
            origin = origin or (host, port)
            # INPUT_ALLOW_PRIVATE trusts the host the client named, not every internal host a redirect may
            # point to: a redirect reaches a private address only on that same host and port.
            private_ok = limits.allow_private and (host, port) == origin
            try:
                # Every hop is resolved and checked, and the connection goes to the address checked.
                address = await resolve_public(host, port, allow_private=private_ok, resolver=resolver)
            except UnsafeTarget as exc:
                raise ObjectError("input_url_refused", f"input_url is refused: {exc}") from exc
            except TimeoutError as exc:  # before the download's own deadline, which says "did not download"
                raise TransientError(f"input_url's host {host!r} did not resolve in time") from exc
            except socket.gaierror as exc:
                if exc.errno == socket.EAI_AGAIN:  # the resolver's passing failure, not an answer
                    raise TransientError(f"input_url's host {host!r} could not be resolved for now") from exc
                raise ObjectError("input_not_found", f"input_url's host {host!r} does not resolve.") from exc
            headers = {"host": parts.netloc, "user-agent": "SmartVideoEditor-Fetch/1"}
            to = pinned(parts, address, port)
            try:
                async with client.stream("GET", to, headers=headers, extensions={"sni_hostname": host}) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    _check_response(response, limits.max_bytes)
                    return await _save(response, dest, limits.max_bytes, on_progress)
            except httpx.TransportError as exc:
                raise TransientError(f"input_url's server {host!r} dropped or refused the connection") from exc
    raise ObjectError("input_url_refused", f"input_url redirects more than {MAX_REDIRECTS} times.")


def _check_response(response: httpx.Response, max_bytes: int) -> None:
    status = response.status_code
    if status in (404, 410):
        raise ObjectError("input_not_found", f"input_url answered {status}: there is no file there.")
    if status in (401, 403):
        raise ObjectError("input_forbidden", f"input_url answered {status}: this server may not read it.")
    if status == 429 or status >= 500:
        raise TransientError(f"input_url answered {status}")
    if status != 200:
        raise ObjectError("input_unavailable", f"input_url answered {status}; a plain 200 with the video is needed.")
    if response.headers.get("content-type", "").lower().startswith(_NOT_VIDEO):
        raise ObjectError("input_not_video", "input_url returns a document, not a video.")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise ObjectError("input_too_large", f"input_url is {length} bytes; at most {max_bytes} are accepted.")


async def _save(response: httpx.Response, dest: Path, max_bytes: int, on_progress: Progress | None) -> tuple[int, str]:
    length = response.headers.get("content-length", "")
    return await save_stream(
        response.aiter_bytes(CHUNK),  # type: ignore[arg-type]  # an async generator, typed as an iterator
        dest,
        max_bytes=max_bytes,
        too_large=f"input_url is over {max_bytes} bytes (MAX_INPUT_BYTES).",
        check_start=_refuse_web_page,
        total=int(length) if length.isdigit() else None,  # without a length there is no share to report
        on_progress=on_progress,
    )


def _refuse_web_page(first: bytes) -> None:
    if first.lstrip()[:16].lower().startswith(_HTML_STARTS):
        raise ObjectError("input_not_video", "input_url returns a web page, not a video.")
