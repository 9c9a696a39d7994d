"""Media rules that need no server: one source per job, S3 prefixes, input URL schemes, the poster frame's moment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.domain.spec import JobSpec
from app.stages.analyze import Plan, Segment
from app.stages.thumbnail import best_moment
from app.storage import Media, S3Location
from app.storage.http import url_refusal
from app.storage.local import LocalStore
from app.storage.sources import SourceError, s3_input


def _segment(index: int, duration: float, score: float, peak: float | None = None) -> Segment:
    return Segment(
        index=index, start=index * 100.0, frames=int(duration * 25), duration=duration, score=score,
        transition="fade", loudness=None, true_peak=None, peak=peak,
    )  # fmt: skip


def test_poster_frame_is_the_middle_of_the_best_clip_in_reel_time() -> None:
    plan = Plan.model_construct(segments=[_segment(0, 20, 0.4), _segment(1, 30, 0.9), _segment(2, 16, 0.9)])
    assert best_moment(plan) == 20 + 15  # the earliest of equal scores, counted on the reel's timeline


def test_poster_frame_is_the_best_clips_peak_when_the_picker_found_one() -> None:
    plan = Plan.model_construct(segments=[_segment(0, 20, 0.4, peak=5.5), _segment(1, 30, 0.9, peak=107.5)])
    assert best_moment(plan) == 20 + 7.5  # the peak of the best clip (100 s into the source), in reel time
    stray = Plan.model_construct(segments=[_segment(0, 20, 0.9, peak=50.0)])  # outside the clip: ignored
    assert best_moment(stray) == 10


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"input_path": "a.mp4", "input_url": "https://x.test/a.mp4"},
        {"input_path": "a.mp4", "input_upload": "0b7f3d1e-8a4c-4a51-9e0c-1c2d3e4f5a6b"},
    ],
)
def test_a_job_names_exactly_one_source(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="exactly one source"):
        JobSpec.model_validate(body)


def test_s3_location_within_a_prefix() -> None:
    where = S3Location.parse("s3://media/in/a.mp4")
    assert where.within(S3Location.parse("s3://media/in/"))
    assert not where.within(S3Location.parse("s3://media/out/"))
    assert not where.within(S3Location.parse("s3://other/in/"))
    with pytest.raises(ValueError):
        S3Location.parse("https://media/in/a.mp4")


def test_s3_input_needs_an_allowed_prefix_one_object_and_an_s3_client(tmp_path: Path) -> None:
    local = Media(LocalStore(output_root=tmp_path, uploads_root=tmp_path), None)
    with pytest.raises(SourceError) as refused:
        s3_input("s3://media/in/a.mp4", local, ["s3://media/in/"])
    assert refused.value.code == "input_url_not_allowed"  # no S3 configured at all
    for url in ("s3://media/in/", "s3://media/in/../reels/x.mp4"):
        with pytest.raises(SourceError) as bad:
            s3_input(url, local, ["s3://media/in/"])
        assert bad.value.code == "invalid_input_url", url


@pytest.mark.parametrize(
    ("url", "allow_http", "refused"),
    [
        ("https://cdn.test/a.mp4", False, False),
        ("http://cdn.test/a.mp4", False, True),
        ("http://cdn.test/a.mp4", True, False),
        ("ftp://cdn.test/a.mp4", True, True),
        ("https://u:p@cdn.test/a.mp4", False, True),
        ("https:///a.mp4", False, True),
    ],
)
def test_input_url_schemes(url: str, allow_http: bool, refused: bool) -> None:
    assert (url_refusal(url, allow_http=allow_http) is not None) == refused
