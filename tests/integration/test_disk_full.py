"""A disk that fills up mid-job is the disk's fault, not the job's: ffmpeg's write error is retried."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from app.media.files import part_name
from tests.conftest import Infra, make_settings, running_service
from tests.support.database import own_database
from tests.support.jobs import submit, wait_final
from tests.support.media import make_source


async def test_ffmpeg_writing_to_a_full_disk_is_retried_and_the_job_then_completes(
    infra: Infra, tmp_path: Path
) -> None:
    async with own_database(infra, "smartedit_full") as database:
        settings = make_settings(infra, tmp_path, postgres_db=database, poll_interval_seconds=0.3)
        make_source(settings.media_root / "s.mp4", seconds=20)
        async with running_service(settings, run_worker=False) as api:
            job = await submit(api, "s.mp4", highlights=[{"start_time": 2, "end_time": 17}])
        # The reel is joined into a temp name beside it (this process's pid): make that name the full disk.
        full = part_name(settings.output_root / f"{job['id']}.mp4")
        full.symlink_to("/dev/full")
        async with running_service(settings) as api:
            deadline = time.monotonic() + 90
            while (shown := (await api.get(f"/jobs/{job['id']}")).json())["status"] != "queued" or not shown["error"]:
                assert shown["status"] in ("queued", "running"), shown["error"]
                assert time.monotonic() < deadline, "the job was never handed back for a retry"
                await asyncio.sleep(0.1)
            assert shown["error"]["code"] == "retrying" and "No space left on device" in shown["error"]["message"]
            os.unlink(full)  # space is free again
            done = await wait_final(api, job["id"], timeout=90)
    assert done["status"] == "completed", done["error"]
    assert done["attempts"] == 2 and done["error"] is None
