"""A TCP proxy in front of a real server that a test can cut: an outage of PostgreSQL, Redis or S3 on demand.

While cut, every open connection is reset and every new one is closed as soon as it is accepted, as a
server that went away or a network that dropped would look to the service; `restore` lets them through
again. It counts the connections it refused, so a test can wait until the outage was actually felt. It runs
in the test's own event loop, beside the in-process service it sits in front of.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from tests.support.tcp_proxy import TcpProxy


@dataclass(kw_only=True)
class Cuttable(TcpProxy):
    """Whether it is cut, and how many connections it refused while cut."""

    cut: bool = False
    refused: int = 0
    _felt: asyncio.Event = field(default_factory=asyncio.Event)  # a connection was refused since the last cut

    def cut_off(self) -> None:
        """Start the outage: reset what is open, refuse what comes."""
        self.cut = True
        self._felt.clear()
        self.reset()

    def restore(self) -> None:
        """End the outage."""
        self.cut = False

    async def outage(self, *, at_least: float, felt_within: float = 90.0) -> None:
        """Cut for `at_least` seconds and until a connection was refused (the service noticed), then restore."""
        self.cut_off()
        await asyncio.sleep(at_least)
        try:
            await asyncio.wait_for(self._felt.wait(), felt_within - at_least)
        except TimeoutError:
            raise AssertionError(f"nothing reached {self.target} in {felt_within} s") from None
        self.restore()

    async def admit(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes | None:
        if not self.cut:
            return b""
        self.refused += 1
        self._felt.set()
        writer.transport.abort()
        return None


def cuttable(host: str, port: int) -> AbstractAsyncContextManager[Cuttable]:
    """A proxy to host:port on a port the OS picks; closed, with every connection, on exit."""
    return Cuttable(target=(host, port)).running()
