"""schemathesis over /openapi.json against a live API: no 5xx, every error is application/problem+json.

`make test` runs a few examples per operation; `make fuzz` sets FUZZ_EXAMPLES and requires at least
500 requests in all (README records the count).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from app.api.app import create_app
from app.ops.embedded import free_port
from tests.conftest import Infra, make_settings

KEY = "fuzz-key"
AUTH = {"Authorization": f"Bearer {KEY}", "X-API-Key": KEY}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "24"))
MIN_REQUESTS = int(os.environ.get("FUZZ_MIN_REQUESTS", "300"))
SENT: list[tuple[str, int]] = []  # (operation, status) of every request the fuzzer made

@pytest.fixture(scope="module")
def live_url(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app (API only: fuzzed jobs are never rendered) served by uvicorn on a free port."""
    root: Path = tmp_path_factory.mktemp("fuzz")
    service = make_settings(
        infra, root, api_keys=[KEY], rate_limit_per_minute=0, max_queued_per_key=100_000
    )
    (service.media_root / "a.mp4").write_bytes(b"never decoded")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service, run_worker=False), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def _authorised(case: schemathesis.Case) -> None:
    _check(case, authorised=True)


def _as_generated(case: schemathesis.Case) -> None:
    # The generated Authorization / X-API-Key values themselves: mostly a 401, never a 5xx.
    _check(case, authorised=False)


def _check(case: schemathesis.Case, *, authorised: bool) -> None:
    response = case.call(headers=AUTH if authorised else None, timeout=30)
    SENT.append((f"{case.method} {case.path}", response.status_code))
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        content_type = response.headers.get("content-type") or [""]  # schemathesis keeps every value of a header
        assert content_type == ["application/problem+json"], response.text
        body = response.json()
        assert body["status"] == response.status_code and body["code"] and body["detail"]


def test_no_5xx_and_every_error_is_problem_json(live_url: str) -> None:
    # Hypothesis driven directly, one property per operation (not schemathesis' pytest loader,
    # whose lazy fixture support trails pytest's internals).
    schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json")
    SENT.clear()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:
        for check in (_authorised, _as_generated):
            run = settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )(given(case=operation.as_strategy())(check))
            run()

    by_status: dict[int, int] = {}
    for _, status in SENT:
        by_status[status] = by_status.get(status, 0) + 1
    print(f"\nschemathesis sent {len(SENT)} requests; by status: {dict(sorted(by_status.items()))}")
    assert len(SENT) >= max(MIN_REQUESTS, 1)
    # The API is still sound after the barrage.
    assert httpx.get(f"{live_url}/readyz", timeout=10).status_code == 200
