"""Housekeeping: dead local workers judged by their registration, not by a host name and a pid; orphaned temp dirs."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from app.ai.ports import Charge
from app.config import Settings
from app.db import JobStore, Registration, WorkerRegistry
from app.db.ledger import PgLedger
from app.domain.spec import JobSpec
from app.runner import liveness
from app.runner.housekeeping import ORPHAN_AGE_SECONDS, Housekeeper
from tests.conftest import Infra, make_settings, running_service
from tests.support.ai_talk import cost_counted
from tests.support.database import migrated_store, own_database
from tests.support.jobs import submit


@pytest.fixture
async def settings(infra: Infra, tmp_path: Path) -> AsyncIterator[Settings]:
    async with own_database(infra, "smartedit_house") as database:
        yield make_settings(infra, tmp_path, postgres_db=database)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[JobStore]:
    async with migrated_store(settings) as migrated:
        yield migrated


async def held_by(store: JobStore, worker: Registration) -> uuid.UUID:
    """A job running under `worker`'s registration with a lease that would last five minutes."""
    await WorkerRegistry(store.pool).heartbeat(worker)
    job, _ = await store.create(JobSpec(input_path="a.mp4"))
    claim = await store.claim(worker.id, 300)
    assert claim is not None and claim.job.id == job.id
    return job.id


async def status(store: JobStore, job_id: uuid.UUID) -> str:
    job = await store.get(job_id)
    assert job is not None
    return job.status


def free_pid() -> int:
    pid = 4_000_000
    while psutil.pid_exists(pid):
        pid -= 1
    return pid


def registration(**changes: object) -> Registration:
    pid = int(str(changes.get("pid", os.getpid())))
    base = Registration(
        id=f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}",
        host=socket.gethostname(),
        pid=pid,
        boot_id=liveness.boot_id(),
        pid_namespace=liveness.pid_namespace(),
        started_at=psutil.Process(os.getpid()).create_time(),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_foreign_registrations_on_the_same_host_name_are_not_taken_for_dead_local_workers(
    store: JobStore,
) -> None:
    # Host-network containers share our host name; their pids mean nothing here.
    other_boot = await held_by(store, registration(pid=os.getpid(), boot_id=str(uuid.uuid4())))
    other_namespace = await held_by(store, registration(pid=free_pid(), pid_namespace="pid:[1]"))
    await Housekeeper(store, WorkerRegistry(store.pool), liveness.me(), jobs_dir=Path("/nonexistent")).run()
    assert await status(store, other_boot) == "running"
    assert await status(store, other_namespace) == "running"


async def test_a_dead_local_worker_loses_its_jobs_at_once_and_a_live_one_keeps_them(store: JobStore) -> None:
    child = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        started = psutil.Process(child.pid).create_time()
        alive = await held_by(store, registration(pid=child.pid, started_at=started))
        reused = await held_by(store, registration(pid=child.pid, started_at=started - 3600))  # pid reused since
        dead_child = await asyncio.create_subprocess_exec("true")
        await dead_child.wait()
        dead = await held_by(store, registration(pid=dead_child.pid))
        await Housekeeper(store, WorkerRegistry(store.pool), liveness.me(), jobs_dir=Path("/nonexistent")).run()
        assert await status(store, alive) == "running"
        assert await status(store, reused) == "queued"
        assert await status(store, dead) == "queued"
        job = await store.get(dead)
        assert job is not None and job.faults == 1 and job.lease_token is None
    finally:
        child.kill()
        await child.wait()


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    for p in [path, *path.rglob("*")]:
        os.utime(p, (past, past))


async def test_orphaned_temp_dirs_of_final_or_unknown_jobs_are_swept(settings: Settings, store: JobStore) -> None:
    jobs_dir = settings.temp_dir / "jobs"
    for name in ("gone.mp4", "later.mp4"):  # the API checks the file exists; nothing here decodes it
        (settings.media_root / name).write_bytes(b"not decoded")
    async with running_service(settings, run_worker=False) as api:
        cancelled = (await submit(api, "gone.mp4"))["id"]
        assert (await api.delete(f"/jobs/{cancelled}")).json()["status"] == "cancelled"
        young = (await submit(api, "gone.mp4"))["id"]
        assert (await api.delete(f"/jobs/{young}")).json()["status"] == "cancelled"
        waiting = (await submit(api, "later.mp4"))["id"]
    async with store.pool.acquire() as conn:  # not due for an hour: the runner must leave it queued
        await conn.execute("UPDATE jobs SET run_after = now() + interval '1 hour' WHERE id = $1", uuid.UUID(waiting))
    unknown = str(uuid.uuid4())
    for job_id in (cancelled, young, waiting, unknown):
        (jobs_dir / job_id / "attempt").mkdir(parents=True)
        (jobs_dir / job_id / "attempt" / "segment_00.mov").write_bytes(b"x" * 1000)
    for job_id in (cancelled, waiting, unknown):
        age(jobs_dir / job_id, ORPHAN_AGE_SECONDS + 60)

    async with running_service(settings):  # the runner's first housekeeping pass runs at start
        # Both swept dirs, whatever order the pass takes them in (the last to go is the permanent state).
        deadline = time.monotonic() + 10
        while any((jobs_dir / j).exists() for j in (cancelled, unknown)) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    assert not (jobs_dir / cancelled).exists() and not (jobs_dir / unknown).exists()
    assert (jobs_dir / young).exists() and (jobs_dir / waiting).exists()


async def test_a_paid_call_left_open_by_a_job_that_stopped_running_is_counted_once_at_its_reservation(
    store: JobStore,
) -> None:
    ledger = PgLedger(store.pool)
    job, _ = await store.create(JobSpec(input_path="a.mp4"))
    claim = await store.claim("w", 300)
    assert claim is not None

    def charge(usd: float) -> Charge:
        return Charge(str(job.id), "openai", "rank", "gpt-4o-mini", usd, {"completion_tokens": 1024})

    settled = await ledger.reserve(charge(0.25), limit_usd=4.0)
    cut_off = await ledger.reserve(charge(0.5), limit_usd=4.0)  # its worker was killed waiting for the answer
    other = await ledger.reserve(Charge("not-a-job-id", "openai", "rank", "m", 0.125), limit_usd=4.0)
    assert settled is not None and cut_off is not None and other is not None
    assert await ledger.settle(settled, cost_usd=0.0625, units={}) == 0.0625
    before = cost_counted()

    def housekeeper() -> Housekeeper:
        registry = WorkerRegistry(store.pool)
        return Housekeeper(store, registry, liveness.me(), jobs_dir=Path("/nonexistent"), ledger=ledger)

    await housekeeper().run()
    assert cost_counted() == before  # the job still runs: its attempt may yet settle the call
    assert await store.release(job.id, claim.token)  # handed back: nothing will settle that call now
    await asyncio.gather(housekeeper().run(), housekeeper().run())  # two workers' housekeeping at once
    assert cost_counted() == pytest.approx(before + 0.5)  # counted once, at its reservation
    entries = {e.id: e for e in await ledger.entries(str(job.id))}
    assert entries[cut_off].cost_usd == 0.5 and entries[cut_off].units["outcome"] == "abandoned"
    assert entries[settled].cost_usd == 0.0625
    assert await ledger.settle(cut_off, cost_usd=0.3, units={}) is None  # a late answer changes nothing
    assert await ledger.spent(str(job.id)) == 0.5625  # what the budget counted all along
    assert [e.cost_usd for e in await ledger.entries("not-a-job-id")] == [None]  # not one of the service's jobs


async def test_an_upload_left_half_written_by_a_dead_api_is_swept_and_one_arriving_is_not(settings: Settings) -> None:
    uploads = settings.upload_temp_dir
    uploads.mkdir(parents=True)
    abandoned, arriving = uploads / f".upload-{uuid.uuid4()}.part", uploads / f".upload-{uuid.uuid4()}.part"
    for part in (abandoned, arriving):
        part.write_bytes(b"\0" * 4096)
    age(abandoned, ORPHAN_AGE_SECONDS + 60)  # its writer died ten minutes ago; `arriving` was written just now
    async with running_service(settings):  # the runner's first housekeeping pass runs at start
        deadline = time.monotonic() + 10
        while abandoned.exists() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    assert not abandoned.exists() and arriving.exists()
