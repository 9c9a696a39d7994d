"""A TCP proxy that slows every connection to a set rate: lets a test kill a worker in the middle of a transfer.

It forwards bytes unchanged (the S3 server behind it sees exactly what the worker sent), counts them, and
notices when the worker starts sending a request for a given key, so a test can kill the worker with that
request's body half sent; with `stall`, that request never gets through at all, however fast the rest goes.
It runs in the test's own event loop; the workers it serves are other processes.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from tests.support.tcp_proxy import Relay, TcpProxy, send


@dataclass(kw_only=True)
class Throttle(TcpProxy):
    """Its rate (bytes per second per direction; change it at will), what to watch for, and what it saw."""

    read_size = 4096  # small steps, so that a kill can land a few KiB into a transfer
    rate: float = 1e12
    watch: bytes | None = None  # a request path to notice in what clients send (e.g. b"/reels/<id>.mp4")
    sent_after_watch: int = 0  # bytes clients sent after the request line that carried `watch`
    stall: bool = False  # forward nothing more of a connection once it sent `watch`: that request never completes
    stalled: asyncio.Event = field(default_factory=asyncio.Event)  # set when `stall` held a request back

    @property
    def endpoint(self) -> str:
        return self.url

    def relay(self) -> Relay:
        return _Watched(self)

    async def paced(self, chunk: bytes, to: asyncio.StreamWriter) -> None:
        """Pass a chunk on, then wait as long as it takes at `rate`."""
        await send(chunk, to)
        await asyncio.sleep(len(chunk) / self.rate)


@dataclass
class _Watched(Relay):
    """One connection through the throttle, its requests watched for `watch` (which may straddle two reads)."""

    throttle: Throttle
    tail: bytes = b""
    watching: bool = False

    async def up(self, chunk: bytes, to: asyncio.StreamWriter) -> None:
        throttle, watch = self.throttle, self.throttle.watch
        if watch is not None:
            if self.watching:
                throttle.sent_after_watch += len(chunk)
            elif watch in self.tail + chunk:
                self.watching = True
                if throttle.stall:
                    throttle.stalled.set()
                    await asyncio.Event().wait()  # held until the proxy closes
            self.tail = chunk[-len(watch) :]
        await throttle.paced(chunk, to)

    async def down(self, chunk: bytes, to: asyncio.StreamWriter) -> None:
        await self.throttle.paced(chunk, to)


def throttled_proxy(target_port: int, *, rate: float) -> AbstractAsyncContextManager[Throttle]:
    """A proxy on a free port in front of 127.0.0.1:`target_port`, at `rate` bytes per second each way."""
    return Throttle(target=("127.0.0.1", target_port), rate=rate).running()
