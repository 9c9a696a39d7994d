"""How verify corrects a reel's sound: gains per clip on top of the last join, the limiter where peaks need it."""

from __future__ import annotations

import pytest

from app.domain.errors import without_paths
from app.domain.result import Verification
from app.stages.render import Reel, RenderedClip
from app.stages.verify import correction


def report(clips: list[float | None], peaks: list[float | None], *, true_peak_ok: bool = True) -> Verification:
    audible = [c for c in clips if c is not None]
    checks = {"bt709": True, "yuv420p": True, "duration": True, "loudness": False, "clips": False, "spread": False}
    return Verification(
        color_primaries="bt709",
        color_transfer="bt709",
        color_space="bt709",
        pix_fmt="yuv420p",
        width=320,
        height=180,
        duration=30.0,
        expected_duration=30.0,
        audio_loudness=-18.0,
        true_peak=-3.0,
        clip_loudness=clips,
        clip_true_peak=peaks,
        silent_clips=[i for i, c in enumerate(clips) if c is None],
        loudness_spread_lu=max(audible) - min(audible),
        checks={**checks, "true_peak": true_peak_ok},
        passed=False,
    )


def reel(gains: list[float]) -> Reel:
    clip = RenderedClip(path="c.mov", size=1, sha256="0")
    return Reel(path="r.mp4", size=1, sha256="0", clips=[clip] * 3, join_gains_db=gains)


def test_each_audible_clip_gets_the_gain_that_lands_it_on_target() -> None:
    sound = correction(report([-16.2, -22.0, None], [-10.0, -12.0, None]), reel([]))
    assert [s.gain_db for s in sound] == pytest.approx([0.2, 6.0, 0.0])
    assert [s.limit for s in sound] == [False, False, False]


def test_gains_add_to_what_the_last_join_applied() -> None:
    sound = correction(report([-17.0, -16.0, -15.0], [-9.0, -9.0, -9.0]), reel([2.0, 0.0, -1.0]))
    assert [s.gain_db for s in sound] == pytest.approx([3.0, 0.0, -2.0])


def test_the_limiter_guards_a_clip_whose_peaks_the_gain_would_push_over() -> None:
    sound = correction(report([-22.0, -16.0, -16.0], [-4.0, -3.0, -3.0]), reel([]))
    assert sound[0].limit and not sound[1].limit


def test_a_true_peak_miss_limits_every_audible_clip() -> None:
    sound = correction(report([-16.0, -16.0, None], [-0.5, -3.0, None], true_peak_ok=False), reel([]))
    assert [s.limit for s in sound] == [True, True, False]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("/srv/media/x/talk.mp4: Invalid data found when processing input", "talk.mp4: Invalid data found"),
        ("Error opening input file /tmp/jobs/1/a b.mov.", "Error opening input file"),
        ("[mov,mp4 @ 0x5566] moov atom not found", "[mov,mp4 @ 0x5566] moov atom not found"),
    ],
)
def test_messages_lose_server_paths_but_keep_file_names(text: str, shown: str) -> None:
    public = without_paths(text)
    assert shown in public and "/srv" not in public and "/tmp" not in public
