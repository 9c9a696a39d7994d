"""A thin client of the HTTP API for the `smartedit` commands: calls, SSE reading, one-line errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


class ClientError(Exception):
    """Something the person at the terminal must know, in one line; `exit_code` for the shell."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ServerEvent:
    """One Server-Sent Event: its name, id (None when the server gave none) and JSON data."""

    name: str
    id: str | None
    data: Any


_UPLOAD_CHUNK = 1 << 20


class ApiClient:
    """Calls the API at `url` with `api_key`; every failure becomes a ClientError a person can act on."""

    def __init__(self, url: str, api_key: str | None, *, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout)

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a 2xx answer; a ClientError otherwise."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        self._raise_for(response)
        return response.json()

    async def events(self, job_id: str, *, last_event_id: str | None = None) -> AsyncIterator[ServerEvent]:
        """The job's live events until the server ends the stream (after the final `job` event)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        try:
            async with self.http.stream(
                "GET", f"/jobs/{job_id}/events/stream", headers=headers, timeout=httpx.Timeout(30, read=None)
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._raise_for(response)
                async for event in _parse(response.aiter_lines()):
                    yield event
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc

    async def upload(self, source: Path) -> str:
        """Send a local video to POST /uploads, streamed from disk; returns its upload_id."""

        async def chunks() -> AsyncIterator[bytes]:
            with source.open("rb") as f:
                while chunk := await asyncio.to_thread(f.read, _UPLOAD_CHUNK):
                    yield chunk

        headers = {"content-type": "application/octet-stream", "content-length": str(source.stat().st_size)}
        upload = await self.call("POST", "/uploads", content=chunks(), headers=headers, timeout=None)
        return str(upload["upload_id"])

    async def download(self, job_id: str, target: Path) -> bool:
        """Save the reel to `target`; False when this server has no output endpoint (the reel stays on it)."""
        try:
            async with self.http.stream("GET", f"/jobs/{job_id}/output", follow_redirects=True) as response:
                if response.status_code >= 400:
                    await response.aread()
                    if _code(response) in ("not_found", "method_not_allowed"):  # no such route on this server
                        return False
                    self._raise_for(response)
                partial = target.with_name(target.name + ".part")
                with partial.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        out.write(chunk)
                partial.replace(target)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        return True

    def _unreachable(self, exc: httpx.TransportError) -> ClientError:
        reason = type(exc).__name__ if not str(exc) else str(exc).splitlines()[0]
        return ClientError(
            f"cannot reach the API at {self.url} ({reason}); is the server running? (set SMARTEDIT_URL or --url)",
            exit_code=2,
        )

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        if response.status_code == 401:
            raise ClientError(
                "the API key is missing or wrong: set SMARTEDIT_API_KEY or pass --api-key", exit_code=2
            )
        raise ClientError(f"{_problem(response).get('detail') or response.reason_phrase} ({_code(response)})")


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _code(response: httpx.Response) -> str:
    return str(_problem(response).get("code") or response.status_code)


async def _parse(lines: AsyncIterator[str]) -> AsyncIterator[ServerEvent]:
    name, event_id, data = "message", None, list[str]()
    async for line in lines:
        if line == "":
            if data:
                yield ServerEvent(name, event_id, json.loads("\n".join(data)))
            name, event_id, data = "message", None, []
            continue
        if line.startswith(":"):  # a heartbeat
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "id":
            event_id = value
        elif field == "data":
            data.append(value)
