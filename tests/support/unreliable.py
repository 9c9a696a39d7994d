"""An S3 endpoint that fails on purpose in front of a real one: a 503 SlowDown, or no answer at all.

Each of the next `failures` requests that opens a connection is answered with a 503 (or never answered, when
`silent`) and its connection closed; every other connection is piped unchanged to the server behind. It runs in
the test's own event loop.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from tests.support.tcp_proxy import TcpProxy, send

_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)


@dataclass(kw_only=True)
class Unreliable(TcpProxy):
    """How many requests it still fails, how, and how many requests it saw."""

    failures: int = 0
    silent: bool = False  # fail by never answering (the client's read timeout must end the wait), else a 503
    seen: int = 0  # requests that opened a connection (later requests on a piped connection are not seen)

    async def admit(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes | None:
        """The request's head, read to count it, when it goes through; None when it fails."""
        head = await reader.readuntil(b"\r\n\r\n")
        self.seen += 1
        if self.failures <= 0:
            return head
        self.failures -= 1
        if self.silent:
            await reader.read()  # until the client gives up and closes
            return None
        headers = dict(line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
        await reader.readexactly(int(headers.get(b"content-length", b"0")))
        await send(
            b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
            + f"Content-Length: {len(_SLOW_DOWN)}\r\nConnection: close\r\n\r\n".encode()
            + _SLOW_DOWN,
            writer,
        )
        return None


def unreliable_endpoint(target_port: int) -> AbstractAsyncContextManager[Unreliable]:
    """An endpoint on a free port in front of 127.0.0.1:`target_port`; set `failures` (and `silent`) to use it."""
    return Unreliable(target=("127.0.0.1", target_port)).running()
