"""Where a job resumes, read from its checkpoints (the in-memory store; the Redis one is tested by the kill tests)."""

from __future__ import annotations

from app.db.checkpoint import MemoryCheckpoints, get_resume_point
from app.pipeline.editor import STAGE_NAMES


async def test_a_fresh_job_has_no_resume_point() -> None:
    assert await get_resume_point(MemoryCheckpoints(), "j", STAGE_NAMES) is None


async def test_resume_starts_at_the_first_stage_not_done() -> None:
    store = MemoryCheckpoints()
    await store.save_stage_data("j", "fetch", path="/s.mp4", size=1, identity="i")
    await store.save_stage_data("j", "validate", duration=120.5)
    await store.save_stage_data("j", "analyze", segments=[])
    await store.save_stage_data("j", "segment:0", path="/x.mov", size=1, sha256="0")
    point = await get_resume_point(store, "j", STAGE_NAMES)
    assert point is not None
    assert point["resume_from_stage"] == "render"
    assert point["completed"] == ["fetch", "validate", "analyze"]
    assert point["data"]["validate"] == {"duration": 120.5}


async def test_clear_forgets_the_job() -> None:
    store = MemoryCheckpoints()
    await store.save_stage_data("j", "validate", duration=1.0)
    await store.clear("j")
    assert await get_resume_point(store, "j", STAGE_NAMES) is None
