"""A Python client generated from the committed openapi.json drives a live service; every error parses as a Problem."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from app.api.app import create_app
from app.config import Settings
from tests.conftest import Infra, make_settings, running_service
from tests.support.media import make_source
from tests.support.sse import served

pytestmark = pytest.mark.xdist_group("sdk")  # its tests share one generated SDK

ROOT = Path(__file__).resolve().parents[2]
KEY = "sdk-key"


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """`make sdk`'s generator run on the committed spec, into a temp dir, imported."""
    out = tmp_path_factory.mktemp("sdk") / "client"
    generator = Path(sys.executable).parent / "openapi-python-client"
    config = ROOT / "clients" / "openapi-python-client.yaml"
    done = subprocess.run(
        [str(generator), "generate", "--path", str(ROOT / "openapi.json"), "--config", str(config),
         "--meta", "setup", "--output-path", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and "Warning" not in done.stdout, done.stdout + done.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("smartedit_client")
    finally:
        sys.path.remove(str(out))


@dataclass
class Service:
    """The API, served over HTTP; the runner beside it, in its own lifespan, so the test can stop it."""

    url: str
    runner: contextlib.AsyncExitStack


@pytest.fixture
async def service(infra: Infra, tmp_path: Path) -> AsyncIterator[Service]:
    settings: Settings = make_settings(infra, tmp_path, api_keys=[KEY], rate_limit_per_minute=RATE_LIMIT)
    make_source(settings.media_root / "talk.mp4", seconds=20)
    async with served(create_app(settings, run_worker=False)) as address, contextlib.AsyncExitStack() as runner:
        await runner.enter_async_context(running_service(settings, run_worker=True))
        yield Service(address, runner)


# Low enough that a burst reaches it within one minute however slow the machine: polls wait out a 429 instead.
RATE_LIMIT = 100


def _api(name: str) -> Any:
    return importlib.import_module(f"smartedit_client.api.{name}")


async def test_generated_client_submits_polls_cancels_and_parses_every_problem(
    sdk: ModuleType, service: Service
) -> None:
    url = service.url
    models = importlib.import_module("smartedit_client.models")
    jobs = {op: _api(f"jobs.{op}") for op in ("create_job", "get_job", "list_jobs", "cancel_job", "get_job_output")}
    client = sdk.AuthenticatedClient(base_url=url, token=KEY)
    body = models.JobCreate(input_path="talk.mp4", highlights=[models.Highlight(start_time=2, end_time=17)])

    created = await jobs["create_job"].asyncio_detailed(client=client, body=body)
    assert created.status_code == 202 and isinstance(created.parsed, models.Job), created.content
    assert created.headers["location"] == f"/jobs/{created.parsed.id}"
    job = created.parsed
    for _ in range(600):
        polled = await jobs["get_job"].asyncio_detailed(job.id, client=client)
        if polled.status_code == 429:  # the rate limit, as any client meets it: wait as it says
            await asyncio.sleep(int(polled.headers["retry-after"]))
            continue
        job = polled.parsed
        if job.status in (models.JobStatus.COMPLETED, models.JobStatus.FAILED):
            break
        await asyncio.sleep(0.5)
    assert job.status == models.JobStatus.COMPLETED, job.error
    assert isinstance(job.result, models.JobResult) and job.result.verification.passed
    assert job.result.segments[0].start == 2.0
    reel = await jobs["get_job_output"].asyncio_detailed(job.id, client=client)  # the README's last line
    assert reel.status_code == 200 and hashlib.sha256(reel.content).hexdigest() == job.result.output_sha256

    await service.runner.aclose()  # no runner from here: the next job stays queued until cancelled
    queued = await jobs["create_job"].asyncio(client=client, body=body)
    cancelled = await jobs["cancel_job"].asyncio_detailed(queued.id, client=client)
    assert cancelled.status_code == 202 and cancelled.parsed.cancel_requested
    assert cancelled.parsed.status == models.JobStatus.CANCELLED

    def problem(response: Any, status: int, code: str) -> None:
        assert response.status_code == status and isinstance(response.parsed, models.Problem), response.content
        assert response.parsed.code == code and response.parsed.status == status and response.parsed.detail

    problem(await jobs["cancel_job"].asyncio_detailed(job.id, client=client), 409, "job_finished")
    problem(await jobs["get_job"].asyncio_detailed(uuid.uuid4(), client=client), 404, "job_not_found")
    missing = models.JobCreate(input_path="nope.mp4")
    problem(await jobs["create_job"].asyncio_detailed(client=client, body=missing), 422, "input_not_found")
    problem(await jobs["list_jobs"].asyncio_detailed(client=client, cursor="bogus"), 422, "invalid_cursor")
    stranger = sdk.AuthenticatedClient(base_url=url, token="wrong")
    problem(await jobs["get_job"].asyncio_detailed(job.id, client=stranger), 401, "unauthorized")
    page = await jobs["list_jobs"].asyncio(client=client)
    assert {j.id for j in page.items} == {job.id, queued.id}

    # Past the minute's allowance: 429 with Retry-After, parsed too. Twice the limit, plus one: a burst that
    # straddles a minute's end still passes the limit within one of the two minutes.
    for _ in range(2 * RATE_LIMIT + 1):
        limited = await jobs["get_job"].asyncio_detailed(job.id, client=client)
        if limited.status_code != 200:
            break
    problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
