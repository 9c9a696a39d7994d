"""A TCP proxy that slows every connection to a set rate: lets a test kill a worker in the middle of a transfer.

It forwards bytes unchanged (the S3 server behind it sees exactly what the worker sent), counts them, and
notices when the worker starts sending a request for a given key, so a test can kill the worker with that
request's body half sent; with `stall`, that request never gets through at all, however fast the rest goes.
It runs in the test's own event loop; the workers it serves are other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

_CHUNK = 4096


@dataclass
class Throttle:
    """Where the proxy listens, its rate (bytes per second per direction; change it at will) and what it saw."""

    port: int = 0
    rate: float = 1e12
    watch: bytes | None = None  # a request path to notice in what clients send (e.g. b"/reels/<id>.mp4")
    sent_after_watch: int = 0  # bytes clients sent after the request line that carried `watch`
    stall: bool = False  # forward nothing more of a connection once it sent `watch`: that request never completes
    stalled: asyncio.Event = field(default_factory=asyncio.Event)  # set when `stall` held a request back
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool) -> None:
        tail, watching = b"", False
        try:
            while chunk := await reader.read(_CHUNK):
                if upstream and self.watch is not None:
                    if watching:
                        self.sent_after_watch += len(chunk)
                    elif self.watch in tail + chunk:  # the marker may straddle two reads
                        watching = True
                        if self.stall:
                            self.stalled.set()
                            await asyncio.Event().wait()  # held until the proxy closes
                    tail = chunk[-len(self.watch) :]
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(len(chunk) / self.rate)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


@contextlib.asynccontextmanager
async def throttled_proxy(target_port: int, *, rate: float) -> AsyncIterator[Throttle]:
    """A proxy on a free port in front of 127.0.0.1:`target_port`, at `rate` bytes per second each way."""
    throttle = Throttle(rate=rate)

    async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        up = asyncio.create_task(throttle._pipe(client_reader, server_writer, upstream=True))
        down = asyncio.create_task(throttle._pipe(server_reader, client_writer, upstream=False))
        throttle._tasks.update((up, down))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
            throttle._tasks.discard(task)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    throttle.port = server.sockets[0].getsockname()[1]
    try:
        yield throttle
    finally:
        server.close()
        for task in list(throttle._tasks):
            task.cancel()
