"""Resuming over a large source: the event loop never stalls over it and the lease stays held."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

from app.db import JobStore, create_pool
from app.media.ffmpeg import find_binaries
from app.media.files import file_identity, file_sha256, unchanged_since
from app.stages.fetch import Staged, in_place
from app.stages.validate import validate
from tests.conftest import Infra, make_settings, running_service
from tests.support.database import own_database
from tests.support.jobs import submit, wait_final
from tests.support.media import make_source
from tests.support.processes import Gate

PADDING = 1536 * 2**20  # hashing this takes seconds even at 1 GB/s: a loop blocked by it shows plainly


def large_source(path: Path) -> Path:
    """A short video followed by hundreds of MB that the mp4 demuxer ignores but every hash must read."""
    make_source(path, seconds=20, container_args=("-movflags", "+faststart"))
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size + PADDING)  # sparse: costs no disk, hashes like any other bytes
    return path


class LoopLag:
    """Records the longest gap between the ticks of a task that asks to wake every 20 ms."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            self.worst = max(self.worst, now - last)
            last = now

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def test_a_resume_that_rehashes_a_large_source_keeps_the_loop_responsive_and_the_lease(
    infra: Infra, tmp_path: Path
) -> None:
    async with own_database(infra, "smartedit_resume") as database:
        gate = Gate(tmp_path / "gate")
        settings = make_settings(
            infra,
            tmp_path,
            postgres_db=database,
            lease_seconds=3.0,
            poll_interval_seconds=0.3,
            ffmpeg_path=str(gate.path),
        )
        source = large_source(settings.media_root / "long.mp4")
        pool = await create_pool(settings.postgres_dsn, max_size=2)
        try:
            gate.arm("segment_00")  # the clip's render stops before ffmpeg starts, however quick it would be
            async with running_service(settings) as api:
                job = await submit(api, "long.mp4", highlights=[{"start_time": 2, "end_time": 17}])
                await asyncio.to_thread(gate.stopped_run, os.getpid(), "segment_00", 60)
            # Shut down mid-render (the job is handed back, the held run killed); then touch the source so the
            # resume cannot trust its identity and must hash all of it again.
            os.utime(source)
            async with running_service(settings) as api:
                with LoopLag() as lag:
                    done = await wait_final(api, job["id"], timeout=120)
            events = await JobStore(pool).events(uuid.UUID(job["id"]))
        finally:
            await pool.close()
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2  # the lease held throughout: no other claim was needed
    assert ("validate", "skip") in [(e["stage"], e["event"]) for e in events if e["attempt"] == 2]
    assert lag.worst < 1.0, f"the event loop stalled for {lag.worst:.2f} s"
    print(f"\nworst event-loop gap while resuming over {PADDING >> 20} MB: {lag.worst * 1000:.0f} ms")


async def test_an_untouched_source_is_trusted_by_its_identity_without_hashing(tmp_path: Path) -> None:
    path = tmp_path / "s.bin"
    path.write_bytes(b"x" * 1000)
    identity = file_identity(path)
    # A wrong hash that is never consulted while the identity holds:
    assert await unchanged_since(path, 1000, "0" * 64, identity)
    os.utime(path)  # touched: now the hash decides
    assert not await unchanged_since(path, 1000, "0" * 64, identity)
    assert await unchanged_since(path, 1000, file_sha256(path), identity)


async def test_validate_takes_the_hash_a_copy_streamed_in_with_and_hashes_a_changed_file(tmp_path: Path) -> None:
    source = make_source(tmp_path / "s.mp4", seconds=3)
    binaries = find_binaries()
    # A stand-in digest: returned as given shows the file was not read again; a real one shows it was.
    streamed = Staged(path=str(source), size=source.stat().st_size, identity=file_identity(source), sha256="ab" * 32)
    assert (await validate(streamed, binaries=binaries, max_seconds=60)).sha256 == "ab" * 32
    os.utime(source)  # touched since it streamed in: the streamed hash no longer vouches for it
    assert (await validate(streamed, binaries=binaries, max_seconds=60)).sha256 == file_sha256(source)
    assert (await validate(await in_place(source), binaries=binaries, max_seconds=60)).sha256 == file_sha256(source)
