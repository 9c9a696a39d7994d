"""`smartedit serve` (what `make run` starts) with embedded PostgreSQL and Redis, as a real process."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.media import make_source
from tests.support.processes import Server

pytestmark = pytest.mark.xdist_group("serve")


def embedded_env(root: Path) -> dict[str, str]:
    """No database configured: serve starts its own under DATA_DIR."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "REDIS_"))}
    env |= {
        "DATA_DIR": str(root / "data"),
        "MEDIA_ROOT": str(root / "media"),
        "OUTPUT_ROOT": str(root / "output"),
        "TEMP_DIR": str(root / "tmp"),
    }
    return env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "media").mkdir()
    s = Server(embedded_env(tmp_path), tmp_path / "serve.log")
    yield s
    s.kill_group()


def test_restarting_serve_keeps_every_job_and_its_result(server: Server, tmp_path: Path) -> None:
    make_source(tmp_path / "media" / "talk.mp4", seconds=20)
    server.start_ready()
    response = httpx.post(f"{server.url}/jobs", json={"input_path": "talk.mp4"}, timeout=10)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    done = server.wait_final(job_id)
    assert done["status"] == "completed", done["error"]
    queued = httpx.post(f"{server.url}/jobs", json={"input_path": "talk.mp4"}, timeout=10).json()
    server.signal(signal.SIGTERM)
    assert server.wait(45) == 0

    server.start_ready()
    again = server.job(job_id)
    assert again["status"] == "completed" and again["result"] == done["result"]
    assert Path(again["result"]["output_path"]).is_file()
    # The job that was queued or running at shutdown is not lost: it completes after the restart.
    assert server.wait_final(queued["id"])["status"] == "completed"
    listed = {j["id"] for j in httpx.get(f"{server.url}/jobs", timeout=5).json()["items"]}
    assert {job_id, queued["id"]} <= listed
    server.signal(signal.SIGTERM)
    assert server.wait(45) == 0
