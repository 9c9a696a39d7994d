"""Stage 4: measure the reel itself and hold it to every target; correct its sound once or twice if it must.

A reel whose picture is wrong (tags, pixel format, duration) is a bug of ours and fails at once. A
reel whose sound misses (a clip off −16 LUFS, the spread, the true peak) is re-joined from the
clips' PCM with corrected gains, video copied, and measured again; one that still misses fails the
job with `quality_target_missed` and the figures. A reel that passes every check is the only kind
this stage returns.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from app.domain.errors import QualityTargetMissed, VerificationError
from app.domain.result import Verification
from app.media.ffmpeg import Binaries
from app.media.gops import keyframe_colours, packet_index
from app.media.loudness import Loudness, TimeRange, measure_ranges
from app.media.probe import StreamFacts, probe
from app.stages.analyze import Plan
from app.stages.joints import Reencode, check_joints
from app.stages.render import LOUDNESS_TARGET, TRUE_PEAK_CEILING, ClipSound, Reel, RenderedFile, concat
from app.stages.smart_rules import frame_numbers
from app.stages.transitions import metered_part

LOUDNESS_TOLERANCE_LU = 0.5
SPREAD_LIMIT_LU = 1.5
TRUE_PEAK_TOLERANCE_DB = 0.05  # the meter's own rounding; nothing more
MAX_CORRECTIONS = 2
_SOUND_CHECKS = ("loudness", "clips", "spread", "true_peak")
# The files made beside the reel, named as the stores publish them.
Extra = Literal["thumbnail", "captions", "analysis", "filmstrip", "features"]
EXTRAS: tuple[Extra, ...] = get_args(Extra)


class Verified(BaseModel):
    """The reel that passed, which may be a corrected re-join of the rendered one, and its figures."""

    model_config = ConfigDict(frozen=True)

    reel: Reel
    report: Verification
    thumbnail: RenderedFile | None = None  # the poster frame, taken once the reel passed
    captions: RenderedFile | None = None  # WebVTT timed to the reel, when its clips were transcribed
    analysis: RenderedFile | None = None  # the JobAnalysis JSON (`stages/timeline.py`)
    filmstrip: RenderedFile | None = None  # the source's keyframes as one sprite; None when ffmpeg made none
    features: RenderedFile | None = None  # the plan's features, compressed, for a job based on this one

    def extras(self) -> dict[Extra, RenderedFile]:
        """The files made beside the reel, by the name each is published under."""
        return {name: file for name in EXTRAS if (file := getattr(self, name)) is not None}


async def verify(
    reel: Reel, plan: Plan, *, binaries: Binaries, has_audio: bool, work_dir: Path, reencode: Reencode | None = None
) -> Verified:
    """Decode its joints, measure the reel, correct its sound when it misses; raise when it still does.

    A smart clip whose joint does not decode is encoded whole (`reencode`; None: verify fails) and the reel
    joined again first.
    """
    frames = [s.frames for s in plan.segments]
    reel = await check_joints(
        reel, frames, Fraction(plan.frame_rate), binaries=binaries, work_dir=work_dir, reencode=reencode
    )
    report = await measure(reel, plan, binaries=binaries, has_audio=has_audio)
    corrections = 0
    while not report.passed and corrections < MAX_CORRECTIONS:
        sound = correction(report, reel)
        reel = await concat(reel.clips, Path(reel.path), binaries=binaries, work_dir=work_dir, sound=sound)
        corrections += 1
        report = await measure(reel, plan, binaries=binaries, has_audio=has_audio)
    report = report.model_copy(update={"corrections": corrections})
    if not report.passed:
        raise QualityTargetMissed(_miss_message(report), figures=report.model_dump(mode="json"))
    return Verified(reel=reel, report=report)


async def measure(reel: Reel, plan: Plan, *, binaries: Binaries, has_audio: bool) -> Verification:
    """Probe the reel and meter it whole and clip by clip; raise VerificationError when the picture is wrong."""
    info = await probe(binaries.ffprobe, Path(reel.path))
    video = info.video
    if video is None:
        raise VerificationError("the rendered reel has no video stream")
    expected = sum(s.duration for s in plan.segments)
    duration = video.duration or info.duration
    frame = float(1 / Fraction(plan.frame_rate))
    frames, on_grid, keyframes_bt709 = await _frames(Path(reel.path), info.coding, plan, binaries)
    picture = {
        "bt709": (video.color_primaries, video.color_transfer, video.color_space) == ("bt709",) * 3,
        "yuv420p": video.pix_fmt == "yuv420p",
        "duration": abs(duration - expected) <= frame + 1e-3,
        "frames": frames == sum(s.frames for s in plan.segments),
        "timestamps": on_grid,
        "keyframes_bt709": keyframes_bt709,
    }
    if failed := [name for name, ok in picture.items() if not ok]:
        raise VerificationError(
            f"reel failed {', '.join(failed)}: tags {video.color_primaries}/{video.color_transfer}/"
            f"{video.color_space} {video.pix_fmt}, duration {duration:.3f} s for {expected:.3f} s expected, "
            f"{frames} frames for {sum(s.frames for s in plan.segments)}"
        )
    whole, clips = await _meter(reel, plan, binaries, expected) if has_audio else (None, [])
    audible = [m.integrated for m in clips if not m.silent]
    spread = round(max(audible) - min(audible), 2) if audible else None
    # With every clip room tone, what the whole reel measures is only what its fades let through: no target.
    loudness = whole.integrated if whole and audible and not whole.silent else None
    true_peak = whole.true_peak if whole and audible else None
    checks = {
        **picture,
        "loudness": loudness is None or abs(loudness - LOUDNESS_TARGET) <= LOUDNESS_TOLERANCE_LU,
        "clips": all(abs(v - LOUDNESS_TARGET) <= LOUDNESS_TOLERANCE_LU for v in audible),
        "spread": spread is None or spread <= SPREAD_LIMIT_LU,
        "true_peak": true_peak is None or true_peak <= TRUE_PEAK_CEILING + TRUE_PEAK_TOLERANCE_DB,
    }
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
        true_peak=None if true_peak is None else round(true_peak, 2),
        clip_loudness=[None if m.silent else round(m.integrated, 2) for m in clips],
        clip_true_peak=[None if m.silent or m.true_peak is None else round(m.true_peak, 2) for m in clips],
        silent_clips=[i for i, m in enumerate(clips) if m.silent],
        loudness_spread_lu=spread,
        checks=checks,
        passed=all(checks.values()),
    )


async def _frames(reel: Path, facts: StreamFacts | None, plan: Plan, binaries: Binaries) -> tuple[int, bool, bool]:
    """Frame count, whether every frame has its own slot on the frame grid, and whether every SPS says BT.709.

    `facts` are the reel's own coding, from the probe `measure` ran. Copied GOPs carry the source's own
    SPS, rewritten in-band: the stream's first SPS (what ffprobe's stream tags show) speaks for the first
    clip only, so every keyframe is decoded and its tags read.
    """
    packets = await packet_index(binaries.ffprobe, reel)
    numbers = frame_numbers(packets, facts, Fraction(plan.frame_rate)) if facts else None
    on_grid = numbers is not None and sorted(numbers) == list(range(len(packets)))
    tags = await keyframe_colours(binaries.ffprobe, reel)
    bt709 = bool(tags) and all(t == ("bt709", "bt709", "bt709", "tv") for t in tags)
    return len(packets), on_grid, bt709


async def _meter(reel: Reel, plan: Plan, binaries: Binaries, expected: float) -> tuple[Loudness, list[Loudness]]:
    # Each clip is metered on the part analyze set its gain from (fades left out): a fade is a deliberate change.
    ranges, t = [TimeRange(0.0, expected)], 0.0
    for s in plan.segments:
        offset, length = metered_part(s.transition, s.duration)
        ranges.append(TimeRange(t + offset, length))
        t += s.duration
    whole, *clips = await measure_ranges(binaries.ffmpeg, Path(reel.path), ranges)
    return whole, clips


def correction(report: Verification, reel: Reel) -> list[ClipSound]:
    """Gains that bring each audible clip onto the target, on top of what the last join applied.

    A clip whose peaks the extra gain would push past the ceiling (or that already needed the guard)
    goes through the limiter; a silent clip is left alone.
    """
    previous = reel.join_gains_db or [0.0] * len(reel.clips)
    sound = []
    for gain, loudness, peak in zip(previous, report.clip_loudness, report.clip_true_peak, strict=True):
        if loudness is None or peak is None:
            sound.append(ClipSound(gain_db=gain))
            continue
        delta = LOUDNESS_TARGET - loudness
        limit = peak + delta > TRUE_PEAK_CEILING - 0.5 or not report.checks["true_peak"]
        sound.append(ClipSound(gain_db=round(gain + delta, 3), limit=limit))
    return sound


def _miss_message(report: Verification) -> str:
    missed = [name for name in _SOUND_CHECKS if not report.checks[name]]
    clips = ", ".join("silent" if v is None else f"{v:.1f}" for v in report.clip_loudness)
    return (
        f"The reel missed its sound targets ({', '.join(missed)}) even after {report.corrections} corrections: "
        f"integrated {_fmt(report.audio_loudness, 'LUFS')} (target {LOUDNESS_TARGET:.0f} ± {LOUDNESS_TOLERANCE_LU}), "
        f"clips at {clips} LUFS, spread {_fmt(report.loudness_spread_lu, 'LU')} (at most {SPREAD_LIMIT_LU}), "
        f"true peak {_fmt(report.true_peak, 'dBTP')} (at most {TRUE_PEAK_CEILING:.0f}). The source's sound is "
        "too sparse or too peaky to reach −16 LUFS without distortion: choose other passages or remaster it."
    )


def _fmt(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.1f} {unit}"
