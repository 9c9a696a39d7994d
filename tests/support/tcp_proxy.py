"""The TCP proxy every misbehaving network of the tests is made of: each kind of trouble is a subclass.

It listens on a free port of 127.0.0.1 and connects each client it admits to the server behind. Each chunk
read from either side goes through a hook of the connection's `Relay`, which may pass it on, count it, pace
it or hold it back; once either side of a connection is done, both are closed, as a dropped connection would
look to the other. It runs in the test's own event loop; what is still open when its `running` block ends is
reset, so nothing outlives the test.
"""

from __future__ import annotations

import asyncio
import contextlib
from asyncio import StreamReader, StreamWriter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar, Self

Hook = Callable[[bytes, StreamWriter], Awaitable[None]]


async def send(chunk: bytes, to: StreamWriter) -> None:
    """Pass bytes on, no faster than the other side takes them."""
    to.write(chunk)
    await to.drain()


class Relay:
    """One connection's hooks, given each chunk from one side (the client's for `up`) and the other's writer.

    These pass it on unchanged; a proxy that does more subclasses them, with what it tracks per connection.
    """

    async def up(self, chunk: bytes, to: StreamWriter) -> None:
        await send(chunk, to)

    async def down(self, chunk: bytes, to: StreamWriter) -> None:
        await send(chunk, to)


@dataclass(kw_only=True)
class TcpProxy:
    """A proxy in front of `target`, on `port` once running; subclasses change whom it admits and how it relays."""

    read_size: ClassVar[int] = 1 << 16
    target: tuple[str, int]
    port: int = 0
    _open: dict[asyncio.Task[None], set[StreamWriter]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def admit(self, reader: StreamReader, writer: StreamWriter) -> bytes | None:
        """What a new client already sent, to go first to the server; None turns it away (closed, never piped)."""
        return b""

    def relay(self) -> Relay:
        """The hooks of a new connection."""
        return Relay()

    def reset(self) -> None:
        """Reset both sides of every open connection, as a network that dropped would."""
        for sides in self._open.values():
            for side in sides:
                side.transport.abort()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        """Listening on a free port until the block ends."""
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            self.reset()
            for task in self._open:
                task.cancel()
            await asyncio.gather(*self._open, return_exceptions=True)
            await server.wait_closed()

    def _accept(self, reader: StreamReader, client: StreamWriter) -> None:
        sides = {client}
        task = asyncio.create_task(self._serve(reader, client, sides))
        self._open[task] = sides
        task.add_done_callback(self._open.pop)

    async def _serve(self, client_reader: StreamReader, client: StreamWriter, sides: set[StreamWriter]) -> None:
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):  # a client gone early, or no server
                if (first := await self.admit(client_reader, client)) is None:
                    return
                server_reader, server = await asyncio.open_connection(*self.target)
                sides.add(server)
                server.write(first)
                relay = self.relay()
                pipes = {
                    asyncio.create_task(self._pipe(client_reader, server, relay.up)),
                    asyncio.create_task(self._pipe(server_reader, client, relay.down)),
                }
                try:
                    await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for pipe in pipes:
                        pipe.cancel()
        finally:
            for side in sides:
                side.close()

    async def _pipe(self, reader: StreamReader, to: StreamWriter, hook: Hook) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(self.read_size):
                await hook(chunk, to)
