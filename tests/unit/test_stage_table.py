"""The stage table is the one place stages are defined: order, progress and dependencies follow from it."""

from __future__ import annotations

import pytest

from app.pipeline import STAGE_NAMES, STAGES, TABLE


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
