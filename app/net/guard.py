"""The SSRF guard: which URLs the service may call (webhook targets, input URLs), checked at submit and again
when it connects, so a name that resolves to a private address later is refused then too."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

log = logging.getLogger(__name__)

# A lookup that stalls (a dead nameserver) must end well inside the delivery's lease, or the lease lapses
# mid-attempt and another sender posts the same delivery again.
DNS_TIMEOUT_SECONDS = 5.0
SUBMIT_RESOLVE_SECONDS = 2.0  # DNS a submit may wait for before it leaves the check to delivery
# getaddrinfo cannot be interrupted: a stalled lookup keeps its thread after its timeout. Lookups get threads of
# their own, so stalled ones hold these few and never the default pool that uploads and hashing run in.
DNS_THREADS = 4
_dns_pool = ThreadPoolExecutor(max_workers=DNS_THREADS, thread_name_prefix="dns")


class UnsafeTarget(Exception):
    """The webhook URL resolves to an address we refuse to call."""


def check_url(url: str, *, field: str = "webhook_url") -> str | None:
    """A reason the URL cannot be a target (scheme, host), or None if it may be; `field` names it in the reason."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # urlsplit parses the port lazily: a bad one would raise only when the sender connects
    except ValueError as exc:
        return f"{field} is not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return f"{field} must be an http or https URL"
    if not parts.hostname:
        return f"{field} has no host"
    if parts.username is not None or parts.password is not None:
        return f"{field} must not carry credentials"
    return None


async def check_target(
    url: str, *, allow_private: bool, timeout: float = SUBMIT_RESOLVE_SECONDS, field: str = "webhook_url"
) -> str | None:
    """At submit: check_url, then refuse a host that is, or resolves to, a private address.

    An IP literal is judged at once; a name gets `timeout` seconds of DNS, so a slow resolver cannot
    stall submits (a name it could not resolve in time is checked again at delivery, as every target is).
    """
    if reason := check_url(url, field=field):
        return reason
    if allow_private:
        return None
    host, port = host_and_port(urlsplit(url))
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return None if is_public(literal) else f"{field} points to {host}, a private, loopback or link-local address"
    try:
        await asyncio.wait_for(resolve_public(host, port, allow_private=False), timeout)
    except UnsafeTarget as exc:
        return f"{field} is refused: {exc}"
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:
            return f"{field}'s host {host!r} does not resolve"
    except TimeoutError:
        log.info("webhook host %s did not resolve within %.1f s at submit; it is checked at delivery", host, timeout)
    return None


Resolver = Callable[[str, int], Awaitable[list[str]]]  # (host, port) -> addresses
Lookup = Callable[[str, int], list[str]]  # the same, blocking


def getaddrinfo(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for `host` (blocks)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def threaded(lookup: Lookup) -> Resolver:
    """A Resolver that runs the blocking `lookup` on the DNS threads; a lookup waiting for a thread when it
    times out is dropped unrun."""

    async def resolve(host: str, port: int) -> list[str]:
        return await asyncio.get_running_loop().run_in_executor(_dns_pool, lookup, host, port)

    return resolve


system_resolver: Resolver = threaded(getaddrinfo)


async def resolve_public(host: str, port: int, *, allow_private: bool, resolver: Resolver = system_resolver) -> str:
    """Resolve `host` now, within DNS_TIMEOUT_SECONDS, and return an address to connect to; refuse
    private/loopback/link-local ones."""
    try:
        async with asyncio.timeout(DNS_TIMEOUT_SECONDS):
            # getaddrinfo itself cannot be interrupted: its DNS thread finishes in the background.
            addresses = await resolver(host, port)
    except TimeoutError:
        raise TimeoutError(f"DNS lookup of {host} timed out after {DNS_TIMEOUT_SECONDS:.0f} s") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if allow_private or is_public(ip):
            return address
    raise UnsafeTarget(
        f"{host} resolves to {', '.join(addresses)}: private, loopback or link-local targets are refused"
    )


def host_and_port(parts: SplitResult) -> tuple[str, int]:
    """The host a URL names and the port it connects to: the one written, else the scheme's."""
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def pinned(parts: SplitResult, address: str, port: int) -> str:
    """The URL with the address the guard checked in place of its host: the connection goes there, so DNS cannot
    answer otherwise between check and connect (the name stays for the Host header and SNI)."""
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context of every outgoing call (webhooks, input URLs), made once per process.

    httpx builds one per client by loading the whole CA bundle, 50 ms of CPU each time (0.3 ms with this one):
    a fetch of an `input_url` would pay it per job. The same context as httpx's own (certifi, or SSL_CERT_FILE
    or SSL_CERT_DIR when set); one context serves any number of connections.
    """
    return httpx.create_ssl_context()


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a site's own translation, never public


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A globally reachable address, judging an IPv6 address that carries an IPv4 one by that IPv4 address.

    Python 3.11's `is_global` does not look inside IPv4-mapped, 6to4, NAT64 or IPv4-compatible addresses, so
    ::ffff:127.0.0.1, 2002:7f00:1::, 64:ff9b::a9fe:a9fe (169.254.169.254) or ::10.0.0.1 would pass as public.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is None and (ip in _NAT64 or int(ip) >> 32 == 0):  # NAT64, or IPv4-compatible (::a.b.c.d)
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            return inner.is_global
    return ip.is_global
