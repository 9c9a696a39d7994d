"""An S3 endpoint that fails on purpose in front of a real one: a 503 SlowDown, or no answer at all.

Each of the next `failures` requests that opens a connection is answered with a 503 (or never answered, when
`silent`) and its connection closed; every other connection is piped unchanged to the server behind. It runs in
the test's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)


@dataclass
class Unreliable:
    """Where the endpoint listens, how many requests it still fails, how, and how many requests it saw."""

    port: int = 0
    failures: int = 0
    silent: bool = False  # fail by never answering (the client's read timeout must end the wait), else a 503
    seen: int = 0  # requests that opened a connection (later requests on a piped connection are not seen)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _fail(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.silent:
            await reader.read()  # until the client gives up and closes
            return
        headers = dict(line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
        await reader.readexactly(int(headers.get(b"content-length", b"0")))
        writer.write(
            b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
            + f"Content-Length: {len(_SLOW_DOWN)}\r\nConnection: close\r\n\r\n".encode()
            + _SLOW_DOWN
        )
        await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(1 << 16):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.asynccontextmanager
async def unreliable_endpoint(target_port: int) -> AsyncIterator[Unreliable]:
    """An endpoint on a free port in front of 127.0.0.1:`target_port`; set `failures` (and `silent`) to use it."""
    endpoint = Unreliable()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        endpoint.seen += 1
        if endpoint.failures > 0:
            endpoint.failures -= 1
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                await endpoint._fail(head, reader, writer)
            writer.close()
            return
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        server_writer.write(head)
        pipes = {asyncio.create_task(_pipe(reader, server_writer)), asyncio.create_task(_pipe(server_reader, writer))}
        endpoint._tasks.update(pipes)
        with contextlib.suppress(asyncio.CancelledError):  # the test is over: the connection just goes
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
            endpoint._tasks.discard(task)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    endpoint.port = server.sockets[0].getsockname()[1]
    try:
        yield endpoint
    finally:
        server.close()
        for task in list(endpoint._tasks):
            task.cancel()
