"""The ffmpeg commands of a smart clip: its encoded edges, its copied middle, and the clip they are joined into."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from app.domain.spec import OutputOptions
from app.media.inputs import source_input
from app.media.probe import StreamFacts
from app.stages.analyze import Plan, Segment
from app.stages.colour import colour_filter
from app.stages.render import QUIET, SAMPLE_RATE, audio_chain, x264_args
from app.stages.smart_rules import MAX_REORDER_FRAMES, PROFILES
from app.stages.transitions import video_fades
from app.stages.validate import SourceInfo

# libx264 B-frames that give an edge the source's reorder delay: 1 B-frame holds back one frame, 3 with
# the preset's B-pyramid two.
_BFRAMES = {0: "0", 1: "1", 2: "3"}
# The copied GOPs get the reel's colour fields in their SPS (their pixels are BT.709 already: eligibility).
BT709_SPS = "h264_metadata=colour_primaries=1:transfer_characteristics=1:matrix_coefficients=1:video_full_range_flag=0"


def mov_timescale(frame_rate: str) -> int:
    """The MOV time scale ffmpeg gives an encode at this rate: every part of a reel uses it, so none is rescaled."""
    scale = Fraction(frame_rate).numerator
    while scale < 10000:
        scale *= 2
    return scale


def same_delay(frame_rate: str) -> str:
    """`setts` that puts every decode time MAX_REORDER_FRAMES frames before its display time, as in our encodes.

    The concat demuxer joins parts by display time: a part that holds back fewer frames than the one
    before it would start with a decode time earlier than that part's last. ffmpeg 6.0 hands an output's
    bitstream filters packets already in the muxer's time base (its `TB` still names the one before), so
    the frame is counted in MOV time-scale ticks, which every part sets.
    """
    frame = mov_timescale(frame_rate) / Fraction(frame_rate)
    assert frame.denominator == 1, frame
    return f"setts=pts=PTS:dts=DTS-({MAX_REORDER_FRAMES * frame.numerator}-(STARTPTS-STARTDTS))"


def edge_args(
    source: SourceInfo,
    facts: StreamFacts,
    plan: Plan,
    segment: Segment,
    options: OutputOptions,
    out: Path,
    *,
    first: int,
    frames: int,
) -> list[str]:
    """Encode source frames [first, first + frames) of the clip, fades included, as the source's stream is coded."""
    fps = Fraction(plan.frame_rate)
    start = float(first / fps)
    fades = video_fades(segment.transition, segment.duration, offset=start - segment.start)
    filters = [f"fps={plan.frame_rate}", colour_filter(source), *fades]
    return [
        *QUIET,
        *source_input(source.path, start=start, duration=float(frames / fps) + 1),
        "-map",
        "0:v:0",
        "-vf",
        ",".join(f for f in filters if f),
        "-frames:v",
        str(frames),
        *x264_args(options),
        # As the source's stream is coded, so the copied GOPs beside this edge decode the same way.
        *coded_like(facts),
        "-bf",
        _BFRAMES[facts.reorder_frames],
        *_mov_part("h264_mp4toannexb", plan, out),
    ]


def coded_like(facts: StreamFacts) -> list[str]:
    """libx264's profile and level for a part that sits in one stream with the source's copied GOPs."""
    level = [] if facts.level is None else ["-level:v", f"{facts.level / 10:.1f}"]
    return ["-profile:v", PROFILES[facts.profile or "High"], *level]


def copy_args(source: SourceInfo, plan: Plan, out: Path, *, first: int, frames: int) -> list[str]:
    """Copy the source's packets of frames [first, first + frames), which start at an IDR: not one is decoded."""
    fps = Fraction(plan.frame_rate)
    # Up to the next microsecond: the seek lands on the keyframe at or before it, so never on the GOP before.
    start = -(-first * 1_000_000 // fps) / 1_000_000
    return [
        *QUIET,
        *source_input(source.path, start=float(start)),
        "-map",
        "0:v:0",
        "-c:v",
        "copy",
        "-frames:v",
        str(frames),
        *_mov_part(f"{BT709_SPS},h264_mp4toannexb", plan, out),
    ]


def _mov_part(bitstream: str, plan: Plan, out: Path) -> list[str]:
    """What every video part ends with: parameter sets in-band, one decode delay, one time scale, no sound."""
    return [
        "-bsf:v",
        f"{bitstream},{same_delay(plan.frame_rate)}",
        "-video_track_timescale",
        str(mov_timescale(plan.frame_rate)),
        "-an",
        "-f",
        "mov",
        str(out),
    ]


def assemble_args(source: SourceInfo, plan: Plan, segment: Segment, listing: Path, out: Path) -> list[str]:
    """Join the parts' video (copied) with the clip's sound rendered as in an encoded clip: PCM, exactly as long."""
    samples = round(segment.frames / Fraction(plan.frame_rate) * SAMPLE_RATE)
    args = [*QUIET, "-f", "concat", "-safe", "0", "-i", str(listing)]
    if source.has_audio:
        args += source_input(source.path, start=segment.start, duration=segment.duration + 1)
    else:
        args += ["-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=stereo"]
    audio_in = "[1:a:0]" if source.has_audio else "[1:a]"
    return [
        *args,
        "-filter_complex",
        f"{audio_in}{audio_chain(segment, samples, source.has_audio)}[a]",
        "-map",
        "0:v:0",
        "-map",
        "[a]",
        "-c:v",
        "copy",
        "-c:a",
        "pcm_s24le",
        "-video_track_timescale",
        str(mov_timescale(plan.frame_rate)),
        "-f",
        "mov",
        str(out),
    ]
