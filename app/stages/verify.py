"""Stage 4: measure the reel itself and hold it to the targets; the figures go into the job result."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from app.errors import VerificationError
from app.media.ffmpeg import Binaries
from app.media.loudness import TimeRange, measure_ranges
from app.media.probe import probe
from app.stages.analyze import Plan
from app.stages.render import LOUDNESS_TARGET
from app.stages.transitions import edge_seconds

LOUDNESS_TOLERANCE_LU = 0.5
SPREAD_LIMIT_LU = 1.5


class Verification(BaseModel):
    """What the reel measured, and which targets it met."""

    model_config = ConfigDict(frozen=True)

    color_primaries: str | None
    color_transfer: str | None
    color_space: str | None
    pix_fmt: str | None
    width: int
    height: int
    duration: float
    expected_duration: float
    audio_loudness: float | None  # integrated LUFS of the whole reel; None when there is no sound
    true_peak: float | None
    clip_loudness: list[float | None]
    loudness_spread_lu: float | None
    checks: dict[str, bool]


async def verify(reel: Path, plan: Plan, *, binaries: Binaries, has_audio: bool) -> Verification:
    """Probe the reel, measure its loudness and each clip's; raise when colour or duration is wrong."""
    info = await probe(binaries.ffprobe, reel)
    video = info.video
    if video is None:
        raise VerificationError("the rendered reel has no video stream")
    expected = sum(s.duration for s in plan.segments)
    duration = video.duration or info.duration
    frame = float(1 / Fraction(plan.frame_rate))

    whole, clips = None, []
    if has_audio:
        ranges, t = [TimeRange(0.0, expected)], 0.0
        for s in plan.segments:
            edge = edge_seconds(s.transition)
            ranges.append(TimeRange(t + edge, max(0.4, s.duration - 2 * edge)))
            t += s.duration
        measures = await measure_ranges(binaries.ffmpeg, reel, ranges)
        whole, clips = measures[0], measures[1:]
    audible = [m.integrated for m in clips if not m.silent]
    spread = round(max(audible) - min(audible), 2) if audible else None
    loudness = whole.integrated if whole and not whole.silent else None

    checks = {
        "bt709": (video.color_primaries, video.color_transfer, video.color_space) == ("bt709",) * 3,
        "yuv420p": video.pix_fmt == "yuv420p",
        "duration": abs(duration - expected) <= frame + 1e-3,
        "loudness": loudness is None or abs(loudness - LOUDNESS_TARGET) <= LOUDNESS_TOLERANCE_LU,
        "spread": spread is None or spread <= SPREAD_LIMIT_LU,
    }
    failed = [name for name in ("bt709", "yuv420p", "duration") if not checks[name]]
    if failed:
        raise VerificationError(
            f"reel failed {', '.join(failed)}: tags {video.color_primaries}/{video.color_transfer}/"
            f"{video.color_space} {video.pix_fmt}, duration {duration:.3f} s for {expected:.3f} s expected"
        )
    return Verification(
        color_primaries=video.color_primaries,
        color_transfer=video.color_transfer,
        color_space=video.color_space,
        pix_fmt=video.pix_fmt,
        width=video.width,
        height=video.height,
        duration=round(duration, 3),
        expected_duration=round(expected, 3),
        audio_loudness=None if loudness is None else round(loudness, 2),
        true_peak=whole.true_peak if whole and not whole.silent else None,
        clip_loudness=[None if m.silent else round(m.integrated, 2) for m in clips] if has_audio else [],
        loudness_spread_lu=spread,
        checks=checks,
    )
