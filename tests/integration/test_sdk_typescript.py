"""The TypeScript SDK (clients/typescript): `npm ci`, `tsc`, then its `node --test` suite against a live service.

As the Python SDK's test does: the service is served over HTTP with an API key and a runner; the suite gets
its address in the environment, with one small video to upload (also under MEDIA_ROOT, for a job by path),
the address of a second API with no runner and a database of its own, where a job stays queued until it is
cancelled, and a proxy that cuts the first event stream it carries, so following the stream must resume with
Last-Event-ID. Skipped, saying so, where node or npm is not installed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app.api.app import create_app
from tests.conftest import Infra, make_settings
from tests.support.database import own_database
from tests.support.media import make_source
from tests.support.sse import served
from tests.support.stream_breaker import stream_breaker

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"
KEY = "ts-sdk-key"
NODE, NPM = shutil.which("node"), shutil.which("npm")

pytestmark = pytest.mark.skipif(
    not (NODE and NPM),
    reason="node and npm are not on PATH: the TypeScript SDK's tests need Node.js 20+ and npm (apt-get install npm)",
)


def _run(*command: str, timeout: float) -> None:
    done = subprocess.run(command, cwd=PACKAGE, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def built() -> Path:
    """The package installed from its lock file (the npm cache when warm) and compiled."""
    _run(str(NPM), "ci", "--prefer-offline", "--no-audit", "--no-fund", timeout=240)
    _run(str(NPM), "run", "build", timeout=120)
    return PACKAGE / "dist" / "test"


async def test_typescript_sdk_against_a_live_service(built: Path, infra: Infra, tmp_path: Path) -> None:
    settings = make_settings(infra, tmp_path, api_keys=[KEY], rate_limit_per_minute=100)
    source = make_source(settings.media_root / "talk.mp4", seconds=20)
    async with (
        own_database(infra, "ts_held") as held_db,
        served(create_app(settings)) as url,
        served(
            create_app(make_settings(infra, tmp_path, api_keys=[KEY], postgres_db=held_db), run_worker=False)
        ) as held,
        stream_breaker(url, "cut") as breaker,
    ):
        env = {
            **os.environ,
            "SMARTEDIT_URL": url,
            "SMARTEDIT_HELD_URL": held,
            "SMARTEDIT_API_KEY": KEY,
            "SMARTEDIT_SOURCE": str(source),
            "SMARTEDIT_SERVER_PATH": "talk.mp4",
            "SMARTEDIT_BREAKER_URL": breaker.url,
        }
        suite = await asyncio.create_subprocess_exec(
            str(NODE), "--test", "--test-reporter=tap", str(built), cwd=PACKAGE, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            output = (await asyncio.wait_for(suite.communicate(), 300))[0].decode(errors="replace")
        finally:
            if suite.returncode is None:
                suite.kill()
                await suite.wait()
    assert suite.returncode == 0, output
    assert "# fail 0" in output and "# skipped 0" in output and "# pass 7" in output, output
    # The suite's follower met the cut and resumed after the last stage event it had.
    assert breaker.broken_after is not None, output
    assert f"last-event-id: {breaker.broken_after}\r\n" in breaker.stream_heads[1], breaker.stream_heads
