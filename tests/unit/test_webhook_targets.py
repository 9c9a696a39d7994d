"""Which webhook URLs and addresses the sender accepts: the URL check and the SSRF guard on literal IPs."""

from __future__ import annotations

import ssl
from typing import cast

import pytest
from asyncpg import Pool

from app.ai.memory import MemoryLedger, MemoryTranscripts
from app.config import Settings
from app.db import WebhookOutbox
from app.net.guard import UnsafeTarget, check_target, check_url, resolve_public, tls_context
from app.net.webhooks import WebhookSender
from app.service.wiring import make_ranker

PRIVATE_LITERALS = [
    "127.0.0.1",
    "::1",
    "10.0.0.1",
    "169.254.169.254",
    "192.168.1.1",
    "fc00::1",
    "0.0.0.0",
    "::ffff:127.0.0.1",
]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("example.com/hook", "http or https"),
        ("http:///hook", "no host"),
        ("https://", "no host"),
        ("https://user:secret@example.com/hook", "credentials"),
        ("https://token@example.com/hook", "credentials"),
    ],
)
def test_check_url_names_why_a_url_is_refused(url: str, reason: str) -> None:
    refusal = check_url(url)
    assert refusal is not None and reason in refusal, refusal


@pytest.mark.parametrize("url", ["http://example.com:99999/hook", "http://example.com:port/hook", "http://[::1/hook"])
def test_check_url_refuses_a_malformed_url_instead_of_raising(url: str) -> None:
    refusal = check_url(url)
    assert refusal is not None and "webhook_url" in refusal


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "http://example.com:8080/a/b?c=d", "https://[2001:db8::1]:8443/hook"]
)
def test_check_url_accepts_http_and_https_urls(url: str) -> None:
    assert check_url(url) is None


@pytest.mark.parametrize("address", PRIVATE_LITERALS)
async def test_private_loopback_and_link_local_literals_are_refused(address: str) -> None:
    with pytest.raises(UnsafeTarget, match="refused") as refused:
        await resolve_public(address, 443, allow_private=False)
    assert address in str(refused.value)


@pytest.mark.parametrize("address", PRIVATE_LITERALS)
async def test_private_literals_are_accepted_when_allowed(address: str) -> None:
    assert await resolve_public(address, 443, allow_private=True) == address


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
async def test_public_literals_are_accepted(address: str) -> None:
    assert await resolve_public(address, 443, allow_private=False) == address


@pytest.mark.parametrize("address", PRIVATE_LITERALS)
async def test_a_private_literal_is_refused_at_submit_without_any_lookup(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    refusal = await check_target(f"https://{host}/hook", allow_private=False, timeout=0.001)
    assert refusal is not None and "private" in refusal


async def test_submit_check_allows_private_targets_when_configured() -> None:
    assert await check_target("http://127.0.0.1:9/hook", allow_private=True) is None


async def test_a_name_that_resolves_to_loopback_is_refused_at_submit() -> None:
    refusal = await check_target("http://localhost:8080/hook", allow_private=False)
    assert refusal is not None and ("127.0.0.1" in refusal or "::1" in refusal), refusal


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254, the cloud metadata address
        ("::10.0.0.1", False),  # IPv4-compatible private
        ("64:ff9b:1::1", False),  # a site's own NAT64 prefix
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("2606:4700::1111", True),
        ("8.8.8.8", True),
    ],
)
async def test_ipv6_forms_of_a_private_ipv4_address_are_refused(address: str, public: bool) -> None:
    host = f"[{address}]" if ":" in address else address
    reason = await check_target(f"http://{host}/hook", allow_private=False)
    assert (reason is None) is public, reason

    async def resolves(host: str, port: int) -> list[str]:
        return [address]

    if public:
        assert await resolve_public("h.example", 443, allow_private=False, resolver=resolves) == address
    else:
        with pytest.raises(UnsafeTarget):
            await resolve_public("h.example", 443, allow_private=False, resolver=resolves)


def test_outgoing_calls_share_one_context_that_verifies_certificates_and_names() -> None:
    sender = WebhookSender(WebhookOutbox(cast(Pool, None)), secret="whsec_" + "A" * 32, allow_private=False)
    context = sender._client._transport._pool._ssl_context  # type: ignore[attr-defined]  # httpx keeps it there
    assert context is tls_context()
    from app.ai.provider import OpenAIProvider  # here: the openai client costs every worker 0.45 CPU s to import

    settings = Settings(ai_base_url="https://ai.example/v1", ai_api_key="key")
    ranker = make_ranker(settings, MemoryTranscripts(), MemoryLedger())
    assert ranker is not None and isinstance(ranker.provider, OpenAIProvider)
    assert ranker.provider.client._client._transport._pool._ssl_context is context  # type: ignore[attr-defined]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0, "no CA was loaded"
