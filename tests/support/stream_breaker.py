"""A TCP proxy in front of the API that breaks one job event stream on purpose, after its first stage event.

Every byte is piped unchanged, except on the first connection that asks for `/events/stream`: once the first
`stage` event has gone through to the client, the proxy either cuts the connection (`cut`: a reset, as when a
network drops) or goes silent (`silent`: the connection stays open and nothing more reaches the client, as
behind a half-open NAT). Later streams pass untouched. It records the head of every stream request, so a test
can see the `Last-Event-ID` a client resumed with. It runs in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Literal

from tests.support.tcp_proxy import Relay, TcpProxy, send

_STREAM = re.compile(rb"GET /jobs/[^ ]+/events/stream HTTP/1\.1\r\n.*?\r\n\r\n", re.S)
# A stage event, to the blank line that ends it. Usually one HTTP chunk, but a stream opened late replays the
# events so far in one write, so the break may fall inside a chunk: the client has the whole event either way.
_STAGE = re.compile(rb"id: (\d+)\nevent: stage\n.*?\n\n", re.S)


@dataclass(kw_only=True)
class StreamBreaker(TcpProxy):
    """How it breaks the first stream, and what it saw."""

    mode: Literal["cut", "silent"]
    stream_heads: list[str] = field(default_factory=list)  # each stream request's head, lower-cased
    broken_after: str | None = None  # the id of the stage event after which the stream was broken

    def relay(self) -> Relay:
        return _Connection(self)


@dataclass
class _Connection(Relay):
    """One connection through the breaker; armed when it carries the first stream request."""

    breaker: StreamBreaker
    armed: bool = False
    unmatched: bytes = b""  # what the client sent since the last stream request's head, which may straddle reads
    seen: bytes = b""  # what the server sent an armed stream, up to its first stage event

    async def up(self, chunk: bytes, to: asyncio.StreamWriter) -> None:
        """Client to server: unchanged; notes each stream request (and arms the break on the first)."""
        self.unmatched = self.unmatched[-8192:] + chunk
        end = 0
        for match in _STREAM.finditer(self.unmatched):
            self.breaker.stream_heads.append(match.group().decode(errors="replace").lower())
            self.armed |= len(self.breaker.stream_heads) == 1
            end = match.end()
        self.unmatched = self.unmatched[end:]
        await send(chunk, to)

    async def down(self, chunk: bytes, to: asyncio.StreamWriter) -> None:
        """Server to client: unchanged, until an armed stream's first stage event has gone through.

        What comes before that event (the response head, pings) goes through as it comes: held back, it would be
        the silence the client gives up on, and a stream whose first event comes late (a loaded machine) would
        be abandoned before it could be broken.
        """
        if not self.armed:
            return await send(chunk, to)
        passed = len(self.seen)  # all of it, so far
        self.seen += chunk
        if (stage := _STAGE.search(self.seen)) is None:
            return await send(chunk, to)
        await send(self.seen[passed : stage.end()], to)
        self.breaker.broken_after = stage.group(1).decode()
        if self.breaker.mode == "cut":
            to.transport.abort()
        await asyncio.Event().wait()  # nothing more reaches the client; the connection ends when the client's does


def stream_breaker(target: str, mode: Literal["cut", "silent"]) -> AbstractAsyncContextManager[StreamBreaker]:
    """A proxy on a free port in front of `target` (http://127.0.0.1:PORT) that breaks its first event stream."""
    return StreamBreaker(target=("127.0.0.1", int(target.rsplit(":", 1)[1])), mode=mode).running()
