"""`smartedit serve` (what `make run` starts) with embedded PostgreSQL and Redis, as a real process."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.embedded_tmp import outside_pytest_root
from tests.support.jobs import QUICK_ENCODE
from tests.support.media import make_source
from tests.support.processes import Server

# Every test here that asks for tmp_path gets one the embedded servers can always reach.
tmp_path = pytest.fixture(name="tmp_path")(outside_pytest_root)

pytestmark = pytest.mark.xdist_group("serve")


def default_env() -> dict[str, str]:
    """Nothing configured, as after a fresh clone: embedded servers, ./media, ./output and ./.smartedit."""
    prefixes = ("POSTGRES_", "REDIS_", "DATA_DIR", "MEDIA_ROOT", "OUTPUT_ROOT", "TEMP_DIR")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "media").mkdir()
    s = Server(default_env(), tmp_path / "serve.log", cwd=tmp_path)
    yield s
    if s.alive():  # a graceful stop also stops the embedded servers
        s.signal(signal.SIGTERM)
        s.wait(45)
    s.kill_group()


def test_restarting_serve_keeps_every_job_and_its_result(server: Server, tmp_path: Path) -> None:
    make_source(tmp_path / "media" / "talk.mp4", seconds=20)
    server.start_ready()
    body = {"input_path": "talk.mp4", "output": QUICK_ENCODE}  # what is kept, not how it was encoded
    response = server.http.post("/jobs", json=body, timeout=10)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    done = server.wait_final(job_id)
    assert done["status"] == "completed", done["error"]
    queued = server.http.post("/jobs", json=body, timeout=10).json()
    server.signal(signal.SIGTERM)
    assert server.wait(45) == 0

    server.start_ready()
    again = server.job(job_id)
    assert again["status"] == "completed" and again["result"] == done["result"]
    assert Path(again["result"]["output_path"]).is_file()
    # The job that was queued or running at shutdown is not lost: it completes after the restart.
    assert server.wait_final(queued["id"])["status"] == "completed"
    listed = {j["id"] for j in server.http.get("/jobs").json()["items"]}
    assert {job_id, queued["id"]} <= listed
    server.signal(signal.SIGTERM)
    assert server.wait(45) == 0


def _kill_embedded_servers(data: Path) -> None:
    # The embedded servers run in sessions of their own; a crash of the machine takes them too.
    postmaster = data / "postgres" / "postmaster.pid"
    redis_state = data / "redis.pid"
    pids = [int(postmaster.read_text().split()[0]), int(redis_state.read_text().split()[0])]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)


CLIPS = [{"start_time": 2, "end_time": 17}, {"start_time": 18, "end_time": 33}]


def test_kill_9_of_everything_mid_render_resumes_from_the_checkpoint(server: Server, tmp_path: Path) -> None:
    make_source(tmp_path / "media" / "talk.mp4", seconds=35)
    body = {"input_path": "talk.mp4", "highlights": CLIPS, "output": QUICK_ENCODE}
    server.start_ready()
    clean = server.http.post("/jobs", json=body, timeout=10).json()
    started = time.monotonic()
    server.wait_final(clean["id"])
    clean_seconds = time.monotonic() - started

    job = server.http.post("/jobs", json=body, timeout=10).json()
    server.hold_encoder(1)  # clip 0 rendered and checkpointed, clip 1 half-way
    server.kill_group()
    _kill_embedded_servers(tmp_path / ".smartedit")

    restarted = time.monotonic()
    server.start_ready()
    done = server.wait_final(job["id"])
    resume_seconds = time.monotonic() - restarted
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2
    events = server.events(job["id"])
    resumed = [(e["stage"], e["event"]) for e in events if e["attempt"] == 2]
    assert resumed[:6] == [
        ("fetch", "skip"),
        ("validate", "skip"),
        ("analyze", "skip"),
        ("render", "start"),
        ("segment:0", "skip"),
        ("segment:1", "start"),
    ], resumed
    assert done["result"]["output_sha256"] == server.job(clean["id"])["result"]["output_sha256"]
    print(f"\nembedded: resumed in {resume_seconds:.1f} s (restart included), clean run {clean_seconds:.1f} s")
