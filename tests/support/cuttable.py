"""A TCP proxy in front of a real server that a test can cut: an outage of PostgreSQL, Redis or S3 on demand.

While cut, every open connection is reset and every new one is closed as soon as it is accepted, as a
server that went away or a network that dropped would look to the service; `restore` lets them through
again. It counts the connections it refused, so a test can wait until the outage was actually felt. It runs
in the test's own event loop, beside the in-process service it sits in front of.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

_CHUNK = 65536


@dataclass
class Cuttable:
    """Where the proxy listens, the server behind it, and how many connections it refused while cut."""

    target: tuple[str, int]
    port: int = 0
    cut: bool = False
    refused: int = 0
    _open: set[asyncio.StreamWriter] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_off(self) -> None:
        """Start the outage: reset what is open, refuse what comes."""
        self.cut = True
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    def restore(self) -> None:
        """End the outage."""
        self.cut = False

    async def outage(self, *, at_least: float, felt_within: float = 90.0) -> None:
        """Cut for `at_least` seconds and until a connection was refused (the service noticed), then restore."""
        self.cut_off()
        refused, started = self.refused, time.monotonic()
        await asyncio.sleep(at_least)
        while self.refused == refused:
            assert time.monotonic() - started < felt_within, f"nothing reached {self.target} in {felt_within} s"
            await asyncio.sleep(0.1)
        self.restore()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.cut:
            self.refused += 1
            client_writer.transport.abort()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._open |= {client_writer, server_writer}
        try:
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
        finally:
            self._open -= {client_writer, server_writer}
            for writer in (client_writer, server_writer):
                writer.transport.abort()

    def _spawn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        writer.write_eof()


@contextlib.asynccontextmanager
async def cuttable(host: str, port: int) -> AsyncIterator[Cuttable]:
    """A proxy to host:port on a port the OS picks; closed, with every connection, on exit."""
    proxy = Cuttable((host, port))
    server = await asyncio.start_server(proxy._spawn, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        proxy.cut_off()
        for task in list(proxy._tasks):
            task.cancel()
        await asyncio.gather(*proxy._tasks, return_exceptions=True)
        await server.wait_closed()
