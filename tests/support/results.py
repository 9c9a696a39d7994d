"""A complete job result, for tests that finish jobs without rendering (a result is always a full JobResult)."""

from __future__ import annotations

from typing import Any

from app.domain.result import JobResult, Verification


def sample_result(**changes: Any) -> dict[str, Any]:
    """A JobResult as the store keeps it (JSON), with `changes` applied."""
    report = Verification(
        color_primaries="bt709", color_transfer="bt709", color_space="bt709", pix_fmt="yuv420p",
        width=320, height=180, duration=15.0, expected_duration=15.0, audio_loudness=-16.0, true_peak=-2.0,
        clip_loudness=[-16.0], clip_true_peak=[-2.0], silent_clips=[], loudness_spread_lu=0.0,
        checks={"bt709": True}, passed=True,
    )  # fmt: skip
    result = JobResult(
        output_path="reel.mp4", color_space="bt709", audio_loudness=-16.0, loudness_spread_lu=0.0,
        segments_processed=1, segments=[], duration=15.0, source_duration=20.0, processing_seconds=1.0,
        processing_ratio=0.05, stage_seconds={}, auto_selected=False, output_size=1, output_sha256="0" * 64,
        cost_usd=0.0, verification=report,
    )  # fmt: skip
    return {**result.model_dump(mode="json"), **changes}
