"""Server-Sent Events of a job: pushed from a worker in another process, resumable, and leak-free."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.api.app import create_app
from app.config import Settings
from app.pipeline.editor import TABLE
from app.service.wiring import Services
from tests.conftest import Infra, make_settings
from tests.support.jobs import QUICK_ENCODE
from tests.support.media import make_source
from tests.support.processes import Process, env_for
from tests.support.sse import Event, events, served


@pytest.fixture
def api_settings(infra: Infra, tmp_path: Path) -> Settings:
    return make_settings(infra, tmp_path, sse_heartbeat_seconds=0.3)


@pytest.fixture
async def api(api_settings: Settings) -> AsyncIterator[tuple[str, Services]]:
    """The API alone (no runner in this process), over real HTTP."""
    app = create_app(api_settings, run_worker=False)
    async with served(app) as url:
        yield url, app.state.services


async def _read(
    client: httpx.AsyncClient,
    job_id: str,
    *,
    last_id: str | None = None,
    stop_after_stages: int = 0,
    after_first: Callable[[], object] | None = None,
) -> list[Event]:
    """Events of one connection, until the final job event or `stop_after_stages` stage events; `after_first` is
    called once the first event has arrived."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    got: list[Event] = []
    async with client.stream("GET", f"/jobs/{job_id}/events/stream", headers=headers) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        async for event in events(response):
            got.append(event)
            if len(got) == 1 and after_first is not None:
                after_first()
            stages = sum(e.name == "stage" for e in got)
            if event.name == "job" or (stop_after_stages and stages >= stop_after_stages):
                break
    return got


async def test_stream_pushes_progress_from_a_separate_worker_and_resumes(
    api: tuple[str, Services], api_settings: Settings
) -> None:
    url, _ = api
    make_source(api_settings.media_root / "talk.mp4", seconds=40)
    worker = Process("worker", env_for(api_settings), api_settings.data_dir / "worker.log").start()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            highlights = [{"start_time": 2, "end_time": 18}, {"start_time": 20, "end_time": 36}]
            body = {"input_path": "talk.mp4", "highlights": highlights, "output": QUICK_ENCODE}
            # Clip 1's encoder is stopped as it starts: the job is held mid-render (clip 0 done) on any machine,
            # however fast, until the reconnected stream has been told where the bar is.
            holding = asyncio.create_task(asyncio.to_thread(worker.hold_encoder, 1))
            job = (await client.post("/jobs", json=body)).json()
            first = await _read(client, job["id"], stop_after_stages=3)
            encoder = await holding
            last_id = [e.id for e in first if e.name == "stage"][-1]
            second = await _read(client, job["id"], last_id=last_id, after_first=encoder.resume)
            timeline = (await client.get(f"/jobs/{job['id']}/events")).json()
    finally:
        worker.kill_group()
    # The reconnect is told where the bar is at once, before the stage events it missed: clip 0 done, half the
    # render at least (the clip's last progress is written with its end, whatever the write interval held back).
    told = second[0]
    assert told.name == "progress" and told.data["stage"] == "render", second[:3]
    assert TABLE.overall("render", 0.5) - 0.01 <= told.data["progress"] < TABLE.overall("render", 1.0), told
    missed = [e for e in second if e.name == "stage" and e.data["stage"] == "segment:0"]
    assert [e.data["event"] for e in missed] == ["start", "end"], "clip 0's events, missed while away, came after"
    stage_ids = [int(e.id) for e in first + second if e.name == "stage" and e.id]
    assert stage_ids == [e["id"] for e in timeline], "a stage event was missed or repeated across the reconnect"
    for connection in (first, second):
        values = [e.data["progress"] for e in connection if e.name == "progress"]
        assert values == sorted(values), f"progress went backwards: {values}"
    # Once the encoder goes on, the worker's progress is pushed to the stream until the job ends.
    pushed = [e.data["progress"] for e in second[1:] if e.name == "progress"]
    assert pushed and pushed[-1] == 1.0 and pushed[0] > told.data["progress"], pushed
    final = second[-1]
    assert final.name == "job" and final.data["status"] == "completed", worker.tail()
    assert final.data["result"]["segments_processed"] == 2 and final.data["progress"] == 1.0


async def test_a_thousand_disconnects_leave_no_task_or_connection(
    api: tuple[str, Services], api_settings: Settings, infra: Infra
) -> None:
    url, services = api
    (api_settings.media_root / "a.mp4").write_bytes(b"queued, never rendered: no worker runs")
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        job = (await client.post("/jobs", json={"input_path": "a.mp4"})).json()
        tasks_before = len(asyncio.all_tasks())
        for _ in range(1000):
            async with client.stream("GET", f"/jobs/{job['id']}/events/stream") as response:
                async for event in events(response):
                    assert event.name == "progress"
                    break
        # The server notices the last disconnects: wait for that state (a leak never reaches it).
        pool = services.store.pool

        def settled() -> bool:
            idle = pool.get_idle_size() == pool.get_size()
            return not services.feed.watchers and len(asyncio.all_tasks()) <= tasks_before and idle

        for _ in range(200):  # 10 s at most
            if settled():
                break
            await asyncio.sleep(0.05)
        tasks_after = len(asyncio.all_tasks())
    assert services.feed.watchers == 0
    assert tasks_after <= tasks_before, (tasks_before, tasks_after)
    assert pool.get_size() - pool.get_idle_size() == 0, "a stream still holds a pool connection"
    assert pool.get_size() <= api_settings.max_pool_size
    conn = await asyncpg.connect(
        host=infra.pg_host, port=infra.pg_port, user=infra.pg_user, password=infra.pg_password or None,
        database=infra.database,
    )  # fmt: skip
    try:
        listening = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%smartedit_job_feed%'",
            infra.database,
        )
    finally:
        await conn.close()
    assert listening == 1, "one LISTEN connection serves every stream"
