"""A thin client of the HTTP API for the `smartedit` commands: calls, SSE reading, one-line errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
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


@dataclass
class StreamState:
    """What a resumed event stream needs: the last event id seen, and how long the server asks to wait first."""

    last_event_id: str | None = None
    retry_seconds: float = 1.0


class StreamLost(Exception):
    """The event stream broke off before the job ended: a transport error, or silence past 3 heartbeats."""


_UPLOAD_CHUNK = 1 << 20
RESUMES = 5  # tries in a row that bring no event before the follower gives up


class ApiClient:
    """Calls the API at `url` with `api_key`; every failure becomes a ClientError a person can act on."""

    def __init__(self, url: str, api_key: str | None, *, timeout: float = 30.0, heartbeat: float = 15.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self.heartbeat = heartbeat  # the server's SSE_HEARTBEAT_SECONDS: how often an idle stream still sends a byte
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

    async def events(self, job_id: str, stream: StreamState) -> AsyncGenerator[ServerEvent, None]:
        """The job's live events from `stream.last_event_id` on, until the server ends the stream.

        A transport error, or no byte for 3 heartbeat intervals (a half-open connection), raises StreamLost.
        """
        headers = {"Last-Event-ID": stream.last_event_id} if stream.last_event_id else {}
        timeout = httpx.Timeout(30, read=3 * self.heartbeat)  # a ping is due every heartbeat: 3 missed, it is gone
        try:
            async with self.http.stream(
                "GET", f"/jobs/{job_id}/events/stream", headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._raise_for(response)
                async for event in _parse(response.aiter_lines(), stream):
                    yield event
        except httpx.TransportError as exc:
            raise StreamLost(_reason(exc)) from exc

    async def follow(self, job_id: str) -> AsyncGenerator[ServerEvent, None]:
        """The job's events until its final `job` event, resuming with Last-Event-ID after a drop or a silence.

        StreamLost when `RESUMES` tries in a row bring no event; unreachable at once if the first connect fails.
        """
        stream, failures, connected = StreamState(), 0, False
        while True:
            try:
                async with contextlib.aclosing(self.events(job_id, stream)) as events:
                    async for event in events:
                        connected, failures = True, 0
                        yield event
                        if event.name == "job":
                            return
                lost = StreamLost("the stream ended before the job did")
            except StreamLost as exc:
                if not connected and isinstance(exc.__cause__, httpx.ConnectError):
                    raise self._unreachable(exc.__cause__) from exc
                lost = exc
            failures += 1
            if failures > RESUMES:
                raise lost
            await asyncio.sleep(stream.retry_seconds)

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
                try:
                    with partial.open("wb") as out:
                        async for chunk in response.aiter_bytes():
                            out.write(chunk)
                    partial.replace(target)
                finally:
                    partial.unlink(missing_ok=True)  # a cut transfer leaves no half file
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        except OSError as exc:
            raise ClientError(f"cannot write {target}: {exc.strerror or exc}", exit_code=2) from exc
        return True

    def _unreachable(self, exc: httpx.TransportError) -> ClientError:
        return ClientError(
            f"cannot reach the API at {self.url} ({_reason(exc)}); is the server running? (set SMARTEDIT_URL or --url)",
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


def _reason(exc: httpx.TransportError) -> str:
    return type(exc).__name__ if not str(exc) else str(exc).splitlines()[0]


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _code(response: httpx.Response) -> str:
    return str(_problem(response).get("code") or response.status_code)


async def _parse(lines: AsyncIterator[str], stream: StreamState) -> AsyncGenerator[ServerEvent, None]:
    name, event_id, data = "message", None, list[str]()
    async for line in lines:
        if line == "":
            if event_id is not None:
                stream.last_event_id = event_id
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
        elif field == "retry" and value.isdigit():
            stream.retry_seconds = int(value) / 1000
