"""Never lose a job: real worker processes killed, stopped and restarted mid-render."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import standardwebhooks
from redis.asyncio import Redis

from app.config import Settings
from app.db import JobStore, WebhookOutbox, create_pool
from app.media.ffmpeg import find_binaries
from tests.conftest import WEBHOOK_SECRET, Infra, make_settings, running_service
from tests.support.cache import SourceCache
from tests.support.jobs import QUICK_ENCODE, submit, wait_final
from tests.support.media import make_source
from tests.support.processes import ANALYSIS_DECODE, Process, env_for, ffmpeg_children_of
from tests.support.receiver import Receiver

CLIPS = [{"start_time": 2, "end_time": 17}, {"start_time": 18, "end_time": 33}, {"start_time": 34, "end_time": 49}]


@pytest.fixture
def settings(infra: Infra, tmp_path: Path) -> Settings:
    return make_settings(infra, tmp_path, lease_seconds=3.0, poll_interval_seconds=0.3, shutdown_grace_seconds=10.0)


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The API alone: jobs are run only by the worker processes a test starts."""
    async with running_service(settings, run_worker=False) as client:
        yield client


@pytest.fixture
async def store(settings: Settings, api: httpx.AsyncClient) -> AsyncIterator[JobStore]:
    pool = await create_pool(settings.postgres_dsn, max_size=2)
    yield JobStore(pool)
    await pool.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver that answers 200 and records what arrives."""
    async with Receiver() as r:
        yield r


def completed_webhooks(receiver: Receiver, job_id: str) -> list[dict[str, Any]]:
    """The job.completed webhooks for `job_id` that reached the receiver, signatures checked."""
    signer = standardwebhooks.Webhook(WEBHOOK_SECRET)
    payloads = [signer.verify(r.body, r.headers) for r in receiver.requests]
    return [p for p in payloads if p["type"] == "job.completed" and p["data"]["id"] == job_id]


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for w in started:
        w.kill_group()


def worker(settings: Settings, workers: list[Process], name: str, *, arm: str | None = None, **env: str) -> Process:
    """A worker process; `arm` names ffmpeg runs it stops at the gate, armed before it starts (`Process.arm`)."""
    process = Process("worker", env_for(settings, **env), settings.data_dir / f"{name}.log")
    if arm is not None:
        process.arm(arm)
    workers.append(process.start())
    return process


def talk_in(media_root: Path, sources: SourceCache) -> str:
    """A 50 s talk of three loudness levels in `media_root`: three clips of 15 s (CLIPS), each under a second's render.

    Small, since no test here needs a clip to take long: what must happen mid-render holds the encoder."""
    return sources.link(
        "talk_90p.mp4",
        media_root,
        lambda p: make_source(p, seconds=50, rate="30", levels_lufs=(-30, -18, -24)),
    )


@pytest.fixture
def talk(settings: Settings, sources: SourceCache) -> str:
    return talk_in(settings.media_root, sources)


def starts(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(e["stage"] for e in events if e["event"] == "start")


def framemd5(path: Path) -> list[str]:
    out = subprocess.run(
        [find_binaries().ffmpeg, "-v", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if not line.startswith("#")]


async def test_kill_9_mid_render_resumes_from_the_last_clip_with_identical_frames(
    settings: Settings,
    api: httpx.AsyncClient,
    store: JobStore,
    workers: list[Process],
    talk: str,
    receiver: Receiver,
) -> None:
    # The default encode, smart render included: what a resume must reproduce frame for frame.
    job = await submit(api, talk, highlights=CLIPS[:2], webhook_url=receiver.url())
    first = worker(settings, workers, "first")
    await asyncio.to_thread(first.hold_encoder, 1)
    first.kill_group()  # clip 0 rendered and checkpointed, clip 1 half-way

    # The encoders die with their worker (parent-death signal), not minutes later.
    deadline = time.monotonic() + 5
    while ffmpeg_children_of(settings.temp_dir) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert ffmpeg_children_of(settings.temp_dir) == []

    resumed_at = time.monotonic()
    worker(settings, workers, "second")
    done = await wait_final(api, job["id"], timeout=120)
    resume_seconds = time.monotonic() - resumed_at
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2
    events = await store.events(uuid.UUID(job["id"]))
    counted = starts(events)
    assert counted["validate"] == counted["analyze"] == counted["segment:0"] == 1, counted
    again = [(e["stage"], e["event"]) for e in events if e["attempt"] == 2 and e["stage"].startswith("segment:")]
    assert again == [("segment:0", "skip"), ("segment:1", "start"), ("segment:1", "end")], again

    clean = await submit(api, talk, highlights=CLIPS[:2])
    started = time.monotonic()
    clean_done = await wait_final(api, clean["id"], timeout=120)
    clean_seconds = time.monotonic() - started
    assert framemd5(Path(done["result"]["output_path"])) == framemd5(Path(clean_done["result"]["output_path"]))
    await receiver.wait_for(1)
    await asyncio.sleep(1.5)  # time for a duplicate, were there one
    assert len(completed_webhooks(receiver, job["id"])) == 1
    print(f"\nresumed after kill -9 in {resume_seconds:.1f} s; a clean run took {clean_seconds:.1f} s")


async def test_two_workers_run_ten_jobs_each_exactly_once(
    settings: Settings, api: httpx.AsyncClient, store: JobStore, workers: list[Process], sources: SourceCache
) -> None:
    tiny = sources.link("tiny.mp4", settings.media_root, lambda p: make_source(p, seconds=15, size="128x72", rate="10"))
    # The claims are the subject (at scale: bench/claims.py), not the picking or the encode.
    body = {"highlights": [{"start_time": 0, "end_time": 15}], "output": QUICK_ENCODE}
    ids = [(await submit(api, tiny, **body))["id"] for _ in range(10)]
    worker(settings, workers, "a")
    worker(settings, workers, "b")
    jobs = [await wait_final(api, job_id, timeout=300) for job_id in ids]
    assert all(j["status"] == "completed" for j in jobs), [j["error"] for j in jobs if j["error"]]
    assert all(j["attempts"] == 1 for j in jobs)
    for job_id in ids:
        counted = starts(await store.events(uuid.UUID(job_id)))
        assert set(counted.values()) == {1}, (job_id, counted)
        assert {"fetch", "validate", "analyze", "render", "verify", "segment:0"} == set(counted)
    async with store.pool.acquire() as conn:
        owners = await conn.fetchval(
            "SELECT count(DISTINCT worker) FROM (SELECT split_part(lease_owner, ':', 2) AS worker FROM jobs "
            "WHERE id = ANY($1::uuid[])) w",
            ids,
        )
    assert owners == 2  # both workers took part


async def test_a_stopped_worker_past_its_lease_cannot_write_after_another_finished(
    settings: Settings, api: httpx.AsyncClient, store: JobStore, workers: list[Process], talk: str, receiver: Receiver
) -> None:
    job = await submit(api, talk, highlights=CLIPS[:2], webhook_url=receiver.url(), output=QUICK_ENCODE)
    a = worker(settings, workers, "a")
    encoder = await asyncio.to_thread(a.hold_encoder, 0)
    a.signal(signal.SIGSTOP)
    encoder.resume()  # A's encoder finishes its clip; A, stopped, does not see it
    await asyncio.sleep(settings.lease_seconds + 1)
    worker(settings, workers, "b")
    done = await wait_final(api, job["id"], timeout=120)
    assert done["status"] == "completed" and done["attempts"] == 2
    events_before = await store.events(uuid.UUID(job["id"]))

    a.signal(signal.SIGCONT)
    await asyncio.sleep(6)  # A's encoder finished long ago; A wakes, tries to write, and is refused
    assert a.alive()
    after = await api.get(f"/jobs/{job['id']}")
    assert after.json() == done
    assert await store.events(uuid.UUID(job["id"])) == events_before
    assert len(completed_webhooks(receiver, job["id"])) == 1


async def test_redis_flushed_mid_job_still_gives_a_correct_reel(
    settings: Settings, api: httpx.AsyncClient, workers: list[Process], talk: str, redis: Redis
) -> None:
    job = await submit(api, talk, highlights=CLIPS, output=QUICK_ENCODE)
    encoder = await asyncio.to_thread(worker(settings, workers, "w").hold_encoder, 1)
    await redis.flushdb()  # clip 0's checkpoint among what goes
    encoder.resume()
    done = await wait_final(api, job["id"], timeout=120)
    assert done["status"] == "completed", done["error"]
    checks = done["result"]["verification"]["checks"]
    assert all(checks.values()), checks
    assert abs(done["result"]["duration"] - 45.0) < 0.04


async def test_postgres_connections_killed_mid_job_the_job_completes_once(
    settings: Settings, api: httpx.AsyncClient, store: JobStore, workers: list[Process], talk: str
) -> None:
    job = await submit(api, talk, highlights=CLIPS, webhook_url="http://127.0.0.1:9/hook", output=QUICK_ENCODE)
    encoder = await asyncio.to_thread(worker(settings, workers, "w").hold_encoder, 1)
    admin = await asyncpg.connect(settings.postgres_dsn)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    assert killed >= 2  # the worker's pool and its LISTEN connection at least
    encoder.resume()
    done = await wait_final(api, job["id"], timeout=120)
    assert done["status"] == "completed", done["error"]
    assert [d["event_type"] for d in await WebhookOutbox(store.pool).deliveries(uuid.UUID(job["id"]))] == [
        "job.completed"
    ]
    assert starts(await store.events(uuid.UUID(job["id"])))["verify"] == 1


async def test_sigterm_mid_job_exits_within_the_grace_period_and_the_job_resumes(
    settings: Settings, api: httpx.AsyncClient, store: JobStore, workers: list[Process], talk: str
) -> None:
    job = await submit(api, talk, highlights=CLIPS, output=QUICK_ENCODE)
    first = worker(settings, workers, "first")
    await asyncio.to_thread(first.hold_encoder, 1)
    stopped_at = time.monotonic()
    first.signal(signal.SIGTERM)
    assert first.wait(settings.shutdown_grace_seconds + 5) == 0
    assert time.monotonic() - stopped_at < settings.shutdown_grace_seconds
    released = (await api.get(f"/jobs/{job['id']}")).json()
    assert released["status"] == "queued"

    worker(settings, workers, "second")
    done = await wait_final(api, job["id"], timeout=120)
    assert done["status"] == "completed" and done["attempts"] == 2
    counted = starts(await store.events(uuid.UUID(job["id"])))
    assert counted["validate"] == counted["segment:0"] == 1


async def test_three_sigterm_hand_backs_in_a_row_do_not_fail_the_job(
    settings: Settings, api: httpx.AsyncClient, workers: list[Process], talk: str
) -> None:
    assert settings.max_attempts == 3
    job = await submit(api, talk, highlights=CLIPS[:1], output=QUICK_ENCODE)
    for n in range(1, 4):  # a rolling restart, three times over, each while the clip renders
        w = worker(settings, workers, f"rolling-{n}")
        await asyncio.to_thread(w.hold_encoder, 0)
        w.signal(signal.SIGTERM)
        assert w.wait(settings.shutdown_grace_seconds + 5) == 0
        assert (await api.get(f"/jobs/{job['id']}")).json()["status"] == "queued"
    worker(settings, workers, "last")
    done = await wait_final(api, job["id"], timeout=120)
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 4  # attempts still counts every claim


async def test_delete_stops_a_running_job_within_two_seconds_and_cleans_up(
    settings: Settings, api: httpx.AsyncClient, store: JobStore, workers: list[Process], talk: str
) -> None:
    job = await submit(api, talk, highlights=CLIPS, webhook_url="http://127.0.0.1:9/hook", output=QUICK_ENCODE)
    await asyncio.to_thread(worker(settings, workers, "w").hold_encoder, 0)
    asked = time.monotonic()
    response = await api.delete(f"/jobs/{job['id']}")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    final = await wait_final(api, job["id"], timeout=5)
    assert final["status"] == "cancelled"
    # The status is written before the job's work dir goes: both within the two seconds.
    work_dir = settings.temp_dir / "jobs" / job["id"]
    while (ffmpeg_children_of(settings.temp_dir) or work_dir.exists()) and time.monotonic() - asked < 2:
        await asyncio.sleep(0.05)
    assert ffmpeg_children_of(settings.temp_dir) == []
    assert not work_dir.exists()
    assert time.monotonic() - asked < 2.5
    assert [d["event_type"] for d in await WebhookOutbox(store.pool).deliveries(uuid.UUID(job["id"]))] == [
        "job.cancelled"
    ]
    again = await api.delete(f"/jobs/{job['id']}")
    assert again.status_code == 202 and again.json()["status"] == "cancelled"


async def test_cancel_of_a_queued_job_is_immediate_and_a_finished_job_cannot_be_cancelled(
    api: httpx.AsyncClient, talk: str
) -> None:
    job = await submit(api, talk)
    assert (await api.delete(f"/jobs/{job['id']}")).json()["status"] == "cancelled"
    async with api.stream("GET", f"/jobs/{job['id']}") as response:
        assert (await response.aread()) and response.status_code == 200


async def test_an_encoder_killed_by_a_signal_is_retried_and_the_job_completes(
    settings: Settings, api: httpx.AsyncClient, workers: list[Process], talk: str
) -> None:
    job = await submit(api, talk, highlights=CLIPS[:1], output=QUICK_ENCODE)
    (await asyncio.to_thread(worker(settings, workers, "w").hold_encoder, 0)).kill()  # as the OOM killer would
    retrying = await wait_until(api, job["id"], lambda j: j["status"] == "queued")
    assert retrying["error"]["code"] == "retrying"
    done = await wait_final(api, job["id"], timeout=60)
    assert done["status"] == "completed" and done["attempts"] == 2 and done["error"] is None


async def test_transient_failures_stop_after_max_attempts_with_the_reason(
    infra: Infra, tmp_path: Path, workers: list[Process], sources: SourceCache
) -> None:
    settings = make_settings(infra, tmp_path, max_attempts=1, lease_seconds=3.0, poll_interval_seconds=0.3)
    talk = talk_in(settings.media_root, sources)
    async with running_service(settings, run_worker=False) as api:
        job = await submit(api, talk, highlights=CLIPS[:1], output=QUICK_ENCODE)
        (await asyncio.to_thread(worker(settings, workers, "w").hold_encoder, 0)).kill()
        done = await wait_final(api, job["id"], timeout=30)
    assert done["status"] == "failed" and done["attempts"] == 1
    assert done["error"]["code"] == "retries_exhausted"
    assert "Gave up after 1 attempts" in done["error"]["message"] and "signal" not in done["error"]["message"].lower()


async def wait_until(client: httpx.AsyncClient, job_id: str, condition: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await client.get(f"/jobs/{job_id}")).json()
        if condition(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached the condition")


def _fifos(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_fifo()]


async def test_kill_9_during_analysis_leaves_no_ffmpeg_and_no_pipe_and_the_job_resumes(
    settings: Settings, api: httpx.AsyncClient, store: JobStore, workers: list[Process], sources: SourceCache
) -> None:
    # No highlights: the whole source is decoded through named pipes for the picker; one clip rendered.
    name = sources.link(
        "minute_talk.mp4",
        settings.media_root,
        lambda p: make_source(p, seconds=60, rate="30", levels_lufs=(-30, -18, -24)),
    )
    job = await submit(api, name, output={"max_duration": 20, **QUICK_ENCODE})
    first = worker(settings, workers, "first", arm=ANALYSIS_DECODE)
    # Killed while the decode feeding the analysers runs with its pipes open, whose names are unlinked the moment
    # both ends are open. (Killed before, a worker leaves the names until the job's work dir goes.)
    await asyncio.to_thread(first.hold_analysis_decode)
    first.kill_group()
    events = await store.events(uuid.UUID(job["id"]))
    assert not any(e["stage"] == "analyze" and e["event"] == "end" for e in events)  # killed mid-analysis

    deadline = time.monotonic() + 5
    while ffmpeg_children_of(settings.temp_dir) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert ffmpeg_children_of(settings.temp_dir) == []
    assert _fifos(settings.temp_dir) == []

    worker(settings, workers, "second")
    done = await wait_final(api, job["id"], timeout=200)
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2 and done["result"]["auto_selected"] is True
    counted = starts(await store.events(uuid.UUID(job["id"])))
    assert counted["validate"] == 1 and counted["analyze"] == 2, counted
    assert _fifos(settings.temp_dir) == []
