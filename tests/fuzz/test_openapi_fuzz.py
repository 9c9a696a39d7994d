"""schemathesis, run as an outside fuzzer runs it (its CLI, every check, every phase), against the live service.

With API keys and without: the served spec must then say exactly what the server does, down to each response's
schema, each SSE event, `Allow` on every 405 and the stateful links from `create_job`. A job rendered first (real
ffmpeg, AI captions through the local fake provider) lets the downloads reach their 200s. Settings are in
`schemathesis.toml` beside this file. `make test` runs the keyed mode with a few examples per operation;
`make fuzz` both modes with FUZZ_EXAMPLES per operation and at least FUZZ_MIN_REQUESTS requests in each.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.app import create_app
from app.config import Settings
from app.ops.embedded import ensure_database, free_port
from tests.conftest import Infra, drop_database, running_service
from tests.support.ai_talk import OUTPUT, ai_settings, hearing, talk_source
from tests.support.cache import SourceCache
from tests.support.jobs import wait_final
from tests.support.openai_server import FakeOpenAI, keyword_ranker, serve
from tests.support.receiver import Receiver

KEY = "fuzz-key"
CONFIG = Path(__file__).with_name("schemathesis.toml")
MODES = os.environ.get("FUZZ_MODES", "keyed").split(",")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
MIN_REQUESTS = int(os.environ.get("FUZZ_MIN_REQUESTS", "300"))
DOWNLOADS = ("output", "thumbnail", "captions", "analysis", "filmstrip", "source")


class Counted:
    """The app, counting every response it sends by method, path and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.sent: Counter[tuple[str, str, int]] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.sent[(scope["method"], scope["path"], message["status"])] += 1
            await send(message)

        await self.app(scope, receive, counting)


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """`app` on a free port of 127.0.0.1 (uvicorn in a thread) until the block ends."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass(frozen=True)
class Service:
    """A service to fuzz: its settings, whether it asks for keys, a completed job with captions and a webhook, and
    a queued job."""

    settings: Settings
    keyed: bool
    done_job: str
    queued_job: str


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    yield from serve(FakeOpenAI(hearing=hearing, choosing=keyword_ranker("secret")))


@pytest.fixture(scope="module", params=MODES)
def service(
    request: pytest.FixtureRequest,
    infra: Infra,
    tmp_path_factory: pytest.TempPathFactory,
    fake: FakeOpenAI,
    sources: SourceCache,
) -> Iterator[Service]:
    keyed = request.param == "keyed"
    # A database of its own: the hundreds of jobs the fuzzer queues are queued for no other test's worker.
    database = f"{infra.database}_fuzz_{request.param}"
    password = infra.pg_password or None
    asyncio.run(ensure_database(infra.pg_host, infra.pg_port, infra.pg_user, database, password=password))
    settings = ai_settings(
        infra,
        tmp_path_factory.mktemp(f"fuzz-{request.param}"),
        fake,
        postgres_db=database,
        api_keys=[KEY] if keyed else [],
        rate_limit_per_minute=0,
        max_queued_per_key=100_000,
    )
    talk = talk_source(sources, settings.media_root)
    (settings.media_root / "talk.mp4").write_bytes(b"never decoded")  # the spec's example names it
    yield Service(settings, keyed, *asyncio.run(_jobs(settings, talk, keyed=keyed)))
    asyncio.run(drop_database(infra.pg_host, infra.pg_port, infra.pg_user, infra.pg_password, database))


async def _jobs(settings: Settings, talk: str, *, keyed: bool) -> tuple[str, str]:
    """A job rendered by the real pipeline, AI-ranked, so it has a reel, a poster frame and captions, and its
    webhook delivered; and one queued after the worker stopped."""
    headers = {"Authorization": f"Bearer {KEY}"} if keyed else {}
    async with Receiver() as receiver, running_service(settings) as client:
        client.headers.update(headers)
        body = {"input_path": talk, "output": OUTPUT, "webhook_url": receiver.url()}
        response = await client.post("/jobs", json=body)
        assert response.status_code == 202, response.text
        done = await wait_final(client, response.json()["id"], timeout=180)
        await receiver.wait_for(1)
    assert done["status"] == "completed" and done["result"]["captions_url"], done
    async with running_service(settings, run_worker=False) as client:
        client.headers.update(headers)
        queued = await client.post("/jobs", json={"input_path": talk})
        assert queued.status_code == 202, queued.text
    return str(done["id"]), str(queued.json()["id"])


def test_schemathesis_finds_no_failure(service: Service, tmp_path: Path) -> None:
    app = Counted(create_app(service.settings, run_worker=False))  # fuzzed jobs stay queued: nothing renders
    report = tmp_path / "report.json"
    auth = ["-H", f"Authorization: Bearer {KEY}"] if service.keyed else []
    seed = ["--seed", os.environ["FUZZ_SEED"]] if os.environ.get("FUZZ_SEED") else []
    with serving(app) as url:
        spec = httpx.get(f"{url}/openapi.json", timeout=10).json()
        assert ("securitySchemes" in spec["components"]) is service.keyed  # the spec says whether keys are asked
        started = time.monotonic()
        done = subprocess.run(
            [str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(CONFIG), "--no-color",
             "run", f"{url}/openapi.json", "--max-examples", str(EXAMPLES), "--workers", "1",
             "--report", "json", "--report-json-path", str(report), *auth, *seed],
            cwd=tmp_path,
            env={**os.environ, "FUZZ_DONE_JOB": service.done_job, "FUZZ_QUEUED_JOB": service.queued_job},
            capture_output=True,
            text=True,
            timeout=1800,
        )  # fmt: skip
        seconds = time.monotonic() - started
        sent = Counter(app.sent)  # the fuzzer's requests, before the checks below add theirs
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200  # still sound after the barrage
        # Identity: the analysis is gzipped for a client that asks, and a HEAD's length is of what GET would send.
        headers = {"Accept-Encoding": "identity"} | ({"Authorization": f"Bearer {KEY}"} if service.keyed else {})
        for what in DOWNLOADS:  # HEAD where GET serves a file: the same headers, no body
            got = httpx.get(f"{url}/jobs/{service.done_job}/{what}", headers=headers, timeout=10)
            head = httpx.head(f"{url}/jobs/{service.done_job}/{what}", headers=headers, timeout=10)
            assert got.status_code == head.status_code == 200 and head.content == b"", what
            assert head.headers["content-length"] == str(len(got.content))
            assert head.headers["etag"] == got.headers["etag"]
    summary = done.stdout[done.stdout.rfind("SUMMARY") :] if "SUMMARY" in done.stdout else done.stdout[-3000:]
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-3000:]
    result = json.loads(report.read_text())
    assert not result["failures"] and not result["errors"], summary
    phases = {name: phase["status"] for name, phase in result["phases"].items()}
    assert phases == dict.fromkeys(("examples", "coverage", "fuzzing", "stateful"), "success"), phases

    requests = sum(sent.values())
    by_status = Counter[int]()
    for (_, _, status), n in sent.items():
        by_status[status] += n
    job = f"/jobs/{service.done_job}"
    reached = {what: sent[("GET", f"{job}/{what}", 200)] for what in DOWNLOADS}
    mode = "with keys" if service.keyed else "without keys"
    print(
        f"\nschemathesis {mode}: {requests} requests in {seconds:.0f} s, phases {phases}, "
        f"{len(result['failures'])} failures; by status {dict(sorted(by_status.items()))}; "
        f"200s of the downloads {reached}\n{summary}"
    )
    assert all(reached.values()), reached
    assert requests >= MIN_REQUESTS
