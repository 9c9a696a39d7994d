"""The stage table is the one place stages are defined: order, progress and dependencies follow from it."""

from __future__ import annotations

import pytest

from app.pipeline import _OFFSETS, STAGE_NAMES, STAGES, _depends_on


def test_the_stages_run_in_the_documented_order() -> None:
    assert STAGE_NAMES == ("fetch", "validate", "analyze", "render", "verify")


def test_progress_shares_cover_the_whole_job_and_follow_each_other() -> None:
    assert sum(s.weight for s in STAGES) == pytest.approx(1.0)
    for before, after in zip(STAGES, STAGES[1:], strict=False):
        assert _OFFSETS[after.name] == pytest.approx(_OFFSETS[before.name] + before.weight)


def test_redoing_a_stage_drops_the_checkpoints_of_every_later_stage_and_their_parts() -> None:
    assert _depends_on("render", "analyze") and _depends_on("verify", "analyze")
    assert _depends_on("segment:3", "analyze")  # a clip cut from the old plan
    assert not _depends_on("segment:3", "render")  # render's own parts survive a redone join
    assert not _depends_on("validate", "analyze")
    assert _depends_on("validate", "fetch")  # a source fetched again is validated again
