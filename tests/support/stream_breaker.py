"""A TCP proxy in front of the API that breaks one job event stream on purpose, after its first stage event.

Every byte is piped unchanged, except on the first connection that asks for `/events/stream`: once the first
`stage` event has gone through to the client, the proxy either cuts the connection (`cut`: a reset, as when a
network drops) or goes silent (`silent`: the connection stays open and nothing more reaches the client, as
behind a half-open NAT). Later streams pass untouched. It records the head of every stream request, so a test
can see the `Last-Event-ID` a client resumed with. It runs in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

_STREAM = re.compile(rb"GET /jobs/[^ ]+/events/stream HTTP/1\.1\r\n.*?\r\n\r\n", re.S)
# A stage event, to the blank line that ends it. Usually one HTTP chunk, but a stream opened late replays the
# events so far in one write, so the break may fall inside a chunk: the client has the whole event either way.
_STAGE = re.compile(rb"id: (\d+)\nevent: stage\n.*?\n\n", re.S)


@dataclass
class StreamBreaker:
    """Where the proxy listens, how it breaks the first stream, and what it saw."""

    mode: Literal["cut", "silent"]
    port: int = 0
    stream_heads: list[str] = field(default_factory=list)  # each stream request's head, lower-cased
    broken_after: str | None = None  # the id of the stage event after which the stream was broken
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _up(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, armed: asyncio.Event) -> None:
        """Client to server: unchanged; notes each stream request (and arms the break on the first)."""
        seen = b""
        while chunk := await reader.read(1 << 16):
            seen = seen[-8192:] + chunk  # a request head may straddle two reads
            end = 0
            for match in _STREAM.finditer(seen):
                self.stream_heads.append(match.group().decode(errors="replace").lower())
                if len(self.stream_heads) == 1:
                    armed.set()
                end = match.end()
            seen = seen[end:]
            writer.write(chunk)
            await writer.drain()

    async def _down(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, armed: asyncio.Event) -> None:
        """Server to client: unchanged, until an armed stream's first stage event has gone through."""
        held = b""
        while chunk := await reader.read(1 << 16):
            if not armed.is_set():
                writer.write(chunk)
                await writer.drain()
                continue
            held += chunk
            if (stage := _STAGE.search(held)) is None:
                continue
            writer.write(held[: stage.end()])
            await writer.drain()
            self.broken_after = stage.group(1).decode()
            if self.mode == "cut":
                writer.transport.abort()
                return
            while await reader.read(1 << 16):  # silent: the server's bytes go nowhere, the client waits on
                pass
            await asyncio.Event().wait()  # until the client gives up on the connection


@contextlib.asynccontextmanager
async def stream_breaker(target: str, mode: Literal["cut", "silent"]) -> AsyncIterator[StreamBreaker]:
    """A proxy on a free port in front of `target` (http://127.0.0.1:PORT) that breaks its first event stream."""
    breaker = StreamBreaker(mode)
    target_port = int(target.rsplit(":", 1)[1])

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        armed = asyncio.Event()
        pipes = {
            asyncio.create_task(_quietly(breaker._up(reader, server_writer, armed))),
            asyncio.create_task(_quietly(breaker._down(server_reader, writer, armed))),
        }
        breaker._tasks.update(pipes)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
            breaker._tasks.discard(task)
        for side in (writer, server_writer):
            side.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    breaker.port = server.sockets[0].getsockname()[1]
    try:
        yield breaker
    finally:
        server.close()
        for task in list(breaker._tasks):
            task.cancel()


async def _quietly(pipe: Coroutine[Any, Any, None]) -> None:
    with contextlib.suppress(ConnectionError):
        await pipe
