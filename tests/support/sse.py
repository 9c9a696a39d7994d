"""A minimal Server-Sent Events reader for tests (independent of the client the CLI uses), and a live server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from app.ops.embedded import free_port


@dataclass
class Event:
    """One SSE event: its name, id (None when the server sent none) and parsed data; name 'ping' for a comment."""

    name: str
    id: str | None
    data: Any


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    """Parse the body of a text/event-stream response as it arrives."""
    data: list[str]
    name, event_id, data = "message", None, []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield Event("ping", None, line[1:].strip())
        elif line == "":
            if data:
                yield Event(name, event_id, json.loads("\n".join(data)))
            name, event_id, data = "message", None, []
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "id":
                event_id = value
            elif field == "data":
                data.append(value)


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app served by uvicorn on a free port, in this event loop (so tests can count its tasks)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task.exception() if task.done() else None
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
