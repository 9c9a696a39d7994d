"""A webhook target whose DNS lookup stalls: the attempt ends, recorded, well inside the delivery's lease, and the
stalled lookup holds a DNS thread of its own, never one of the default pool that uploads and hashing run in."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.net import webhooks
from app.net.guard import DNS_TIMEOUT_SECONDS, Resolver, resolve_public, system_resolver, threaded
from app.net.webhooks import ATTEMPT_SECONDS, RECORD_SECONDS


@pytest.fixture
def silent_nameserver() -> Iterator[tuple[str, int]]:
    """A UDP port that receives DNS queries and never answers (a nameserver that hangs)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()
    sock.close()


def stub_resolver(nameserver: tuple[str, int]) -> Resolver:
    """A minimal DNS stub resolver: one A query over UDP to `nameserver`, waiting for the answer."""

    async def resolve(host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[bytes] = loop.create_future()

        class Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                answer.set_result(data)

        query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
        query += b"".join(bytes([len(label)]) + label.encode() for label in host.split(".")) + b"\0"
        query += struct.pack(">HH", 1, 1)  # type A, class IN
        transport, _ = await loop.create_datagram_endpoint(Protocol, remote_addr=nameserver)
        try:
            transport.sendto(query)
            await answer  # never comes
        finally:
            transport.close()
        raise AssertionError("the silent nameserver answered")

    return resolve


@pytest.fixture
async def resolver(silent_nameserver: tuple[str, int]) -> AsyncIterator[Resolver]:
    yield stub_resolver(silent_nameserver)


async def test_a_stalled_dns_lookup_times_out_within_the_delivery_lease(resolver: Resolver) -> None:
    started = time.monotonic()
    with pytest.raises(OSError, match="timed out"):
        await resolve_public("hooks.example.com", 443, allow_private=False, resolver=resolver)
    took = time.monotonic() - started
    assert DNS_TIMEOUT_SECONDS - 0.5 < took < DNS_TIMEOUT_SECONDS + 2
    # The lookup is part of an attempt, which with its record ends before another sender may take the delivery.
    assert DNS_TIMEOUT_SECONDS < ATTEMPT_SECONDS
    assert ATTEMPT_SECONDS + RECORD_SECONDS < webhooks.DELIVERY_LEASE_SECONDS


def test_a_stalled_lookup_holds_a_dns_thread_not_one_of_the_default_pool() -> None:
    """In a loop of its own whose default pool has one thread: were the lookup run there, nothing else could be."""
    release = threading.Event()
    threads: list[str] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        entered = asyncio.Event()

        def stalled(host: str, port: int) -> list[str]:  # getaddrinfo waiting on a nameserver that never answers
            threads.append(threading.current_thread().name)
            loop.call_soon_threadsafe(entered.set)
            release.wait(60)
            return ["192.0.2.1"]

        lookup = asyncio.ensure_future(threaded(stalled)("hooks.example.com", 443))
        try:
            await entered.wait()
            # The one default thread is free while the lookup stalls (the timeout only bounds a failure).
            assert await asyncio.wait_for(loop.run_in_executor(None, threading.get_ident), 10)
        finally:
            release.set()
        assert await lookup == ["192.0.2.1"]

    asyncio.run(scenario())
    assert [name.startswith("dns") for name in threads] == [True]


async def test_the_system_resolver_resolves_localhost() -> None:
    assert "127.0.0.1" in await system_resolver("localhost", 80)
