"""`smartedit serve` (what `make run` starts) with embedded PostgreSQL and Redis, as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.embedded import free_port
from tests.support.media import make_source

pytestmark = pytest.mark.xdist_group("serve")


class Server:
    """One `smartedit serve` process with everything under `root` and no database configured."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "REDIS_"))}
        self.env |= {
            "DATA_DIR": str(root / "data"),
            "MEDIA_ROOT": str(root / "media"),
            "OUTPUT_ROOT": str(root / "output"),
            "TEMP_DIR": str(root / "tmp"),
            "PORT": str(self.port),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.root / "serve.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.root / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("serve did not become ready: " + (self.root / "serve.log").read_text()[-3000:])

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=45)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def wait_final(self, job_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job: dict[str, Any] = httpx.get(f"{self.url}/jobs/{job_id}", timeout=5).json()
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            time.sleep(0.3)
        raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "media").mkdir()
    s = Server(tmp_path)
    yield s
    if s.proc is not None and s.proc.poll() is None:
        os.killpg(s.proc.pid, signal.SIGKILL)


def test_restarting_serve_keeps_every_job_and_its_result(server: Server) -> None:
    make_source(server.root / "media" / "talk.mp4", seconds=20)
    server.start()
    response = httpx.post(f"{server.url}/jobs", json={"input_path": "talk.mp4"}, timeout=10)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    done = server.wait_final(job_id)
    assert done["status"] == "completed", done["error"]
    queued = httpx.post(f"{server.url}/jobs", json={"input_path": "talk.mp4"}, timeout=10).json()
    assert server.stop() == 0

    server.start()
    again = httpx.get(f"{server.url}/jobs/{job_id}", timeout=5).json()
    assert again["status"] == "completed" and again["result"] == done["result"]
    assert Path(again["result"]["output_path"]).is_file()
    # The job that was queued or running at shutdown is not lost: it completes after the restart.
    assert server.wait_final(queued["id"])["status"] == "completed"
    listed = {j["id"] for j in httpx.get(f"{server.url}/jobs", timeout=5).json()["items"]}
    assert {job_id, queued["id"]} <= listed
    assert server.stop() == 0
