"""The stage table is the one place stages are defined: order, progress and dependencies follow from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from app.db.checkpoint import MemoryCheckpoints
from app.domain.spec import JobSpec
from app.pipeline.editor import STAGE_NAMES, STAGES, TABLE
from app.pipeline.run import NO_HOOKS, JobFiles, Stage, StageRun, StageTable


def test_the_stages_run_in_the_documented_order() -> None:
    assert STAGE_NAMES == ("fetch", "validate", "analyze", "render", "verify")


def test_progress_shares_cover_the_whole_job_and_follow_each_other() -> None:
    assert sum(s.weight for s in STAGES) == pytest.approx(1.0)
    for before, after in zip(STAGES, STAGES[1:], strict=False):
        assert TABLE.offsets[after.name] == pytest.approx(TABLE.offsets[before.name] + before.weight)


def test_redoing_a_stage_drops_the_checkpoints_of_every_later_stage_and_their_parts() -> None:
    assert TABLE.depends_on("render", "analyze") and TABLE.depends_on("verify", "analyze")
    assert TABLE.depends_on("segment:3", "analyze")  # a clip cut from the old plan
    assert not TABLE.depends_on("segment:3", "render")  # render's own parts survive a redone join
    assert not TABLE.depends_on("validate", "analyze")
    assert TABLE.depends_on("validate", "fetch")  # a source fetched again is validated again


async def test_a_checkpoint_saved_in_an_older_shape_is_redone_not_fatal() -> None:
    class Counted(BaseModel):
        count: int

    calls: list[str] = []

    async def run(editor: object, run: StageRun) -> Counted:
        calls.append("run")
        return Counted(count=1)

    table = StageTable((Stage("count", 1.0, Counted, run),))
    checkpoints = MemoryCheckpoints()
    await checkpoints.save_stage_data("j", "count", _seconds=1.0, total=3)  # an older version's shape
    job = JobFiles("j", Path("s.mp4"), JobSpec(input_path="s.mp4"), Path("o.mp4"), Path("w"))
    stage_run = StageRun(table, job, NO_HOOKS, checkpoints, await checkpoints.load("j"))
    assert await stage_run.stage(table.stages[0], None) == Counted(count=1)
    assert calls == ["run"]
    again = StageRun(table, job, NO_HOOKS, checkpoints, await checkpoints.load("j"))
    assert await again.stage(table.stages[0], None) == Counted(count=1) and calls == ["run"]  # now trusted
