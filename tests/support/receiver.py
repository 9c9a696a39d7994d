"""A webhook receiver for tests: a small HTTP/1.1 server on 127.0.0.1 that records requests, answers from a script."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

HOST = "127.0.0.1"
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """One answer: a status, extra headers (e.g. Location), and how long to wait before sending it.

    `body` is sent `repeat` times; `until`, when given, holds the answer back until it is set; `drip` sends the
    answer a byte at a time, that many seconds apart, until it is all out or the sender hangs up.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b""
    repeat: int = 1
    until: asyncio.Event | None = None
    drip: float = 0.0


@dataclass(frozen=True)
class Received:
    """One request as it arrived: header names lower-cased, `arrived` on the monotonic clock."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    arrived: float


class Receiver:
    """Answers the n-th request with `script[n]` and every later one with `otherwise`; records all of them.

    Use as `async with Receiver(...) as receiver:`; it listens on a port the OS picks, so tests never collide.
    Every answer closes the connection, so each attempt of a sender arrives on a fresh one.
    """

    def __init__(self, script: Sequence[Reply | int] = (), *, otherwise: Reply | int = 200) -> None:
        self._script = [_reply(r) for r in script]
        self._otherwise = _reply(otherwise)
        self.requests: list[Received] = []
        self.sent: list[int] = []  # body bytes each ended answer got out before it was done or the sender hung up
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, path: str = "/hook") -> str:
        """The URL of `path` on this receiver."""
        return f"http://{HOST}:{self.port}{path}"

    async def wait_for(self, count: int, *, timeout: float = 15.0) -> list[Received]:
        """The first `count` requests, once they have arrived; fails after `timeout` seconds."""
        await _until(lambda: len(self.requests) >= count, timeout, f"{count} requests")
        return self.requests[:count]

    async def wait_sent(self, count: int, *, timeout: float = 15.0) -> list[int]:
        """`sent` of the first `count` answers, once they have ended; fails after `timeout` seconds."""
        await _until(lambda: len(self.sent) >= count, timeout, f"{count} answers")
        return self.sent[:count]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sent: int | None = None  # body bytes out, once there is a request to answer
        try:
            with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                request = await _read_request(reader)
                index = len(self.requests)
                self.requests.append(request)
                reply = self._script[index] if index < len(self._script) else self._otherwise
                sent = 0
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                if reply.until is not None:
                    await reply.until.wait()
                length = len(reply.body) * reply.repeat
                head = [f"HTTP/1.1 {reply.status} Scripted", f"content-length: {length}", "connection: close"]
                head += [f"{name}: {value}" for name, value in reply.headers.items()]
                raw_head = ("\r\n".join(head) + "\r\n\r\n").encode()
                if reply.drip:
                    for i, byte in enumerate(raw_head + reply.body * reply.repeat):
                        writer.write(bytes([byte]))
                        await writer.drain()
                        sent = max(0, i + 1 - len(raw_head))
                        await asyncio.sleep(reply.drip)
                else:
                    writer.write(raw_head)
                    for _ in range(reply.repeat):
                        writer.write(reply.body)
                        await writer.drain()
                        sent += len(reply.body)
        finally:
            if sent is not None:
                self.sent.append(sent)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} in {timeout} s")
        await asyncio.sleep(0.01)


def _reply(value: Reply | int) -> Reply:
    return value if isinstance(value, Reply) else Reply(value)


async def _read_request(reader: asyncio.StreamReader) -> Received:
    head = await reader.readuntil(b"\r\n\r\n")
    arrived = time.monotonic()
    if len(head) > _MAX_HEAD:
        raise ConnectionError("request head too large")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(method, target, headers, body, arrived)
