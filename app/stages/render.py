"""Stage 3: each clip encoded once (seek, framing, colour, gain, fades), then joined without re-encoding video.

A clip whose source GOPs can be kept is made by `stages/smart.py` instead; both kinds join here alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from app.domain.result import RenderMode
from app.domain.spec import OutputOptions
from app.media.ffmpeg import Binaries, ProgressCallback, run
from app.media.files import part_name, publish
from app.media.inputs import source_input
from app.media.loudness import AUDIO_FORMAT, is_silent
from app.stages.analyze import Plan, Segment
from app.stages.colour import colour_filter
from app.stages.framing import crop_filter, split_filter
from app.stages.transitions import audio_fades, video_fades
from app.stages.validate import SourceInfo

LOUDNESS_TARGET = -16.0  # LUFS
TRUE_PEAK_CEILING = -1.0  # dBTP
SAMPLE_RATE = 48000
# What the reel's video stream says it is: BT.709 primaries, transfer and matrix, limited range.
BT709_TAGS = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv")
QUIET = ("-hide_banner", "-nostdin", "-y", "-v", "error")  # every render command: errors only, never a prompt
AAC_BITRATE = "192k"
# The reel's AAC coder. ffmpeg 6.0's default, twoloop, is tuned for low bitrates; at higher ones the encoder's
# maintainer found the fast coder sounds better and needs far less CPU (FFmpeg fcb681ac, 2018, which made it the
# default for a time). `make bench-encode-choices`, 40 s of stereo at 192k: 0.43 CPU s against 0.87, the same
# integrated loudness, and a true peak 0.8 dB under the source's where twoloop's was 0.4 dB over.
AAC_CODER = ("-aac_coder", "fast")


# alimiter holds sample peaks; its ceiling sits this far under the true-peak ceiling so that
# inter-sample peaks, and the AAC encode of the join, stay under it too.
_LIMITER_HEADROOM_DB = 0.5


class RenderedFile(BaseModel):
    """A finished file and what proves it is the one we wrote."""

    model_config = ConfigDict(frozen=True)

    path: str
    size: int
    sha256: str


class RenderedClip(RenderedFile):
    """A finished clip: how it was made (`smart`: source GOPs copied between encoded edges) and why not smart."""

    render_mode: RenderMode = "encode"
    render_reason: str | None = None  # why the clip was encoded whole; None for a smart clip
    copied_frames: int = 0
    # Frames encoded before the first copied one (smart only): where its joints are. None in older checkpoints.
    head_frames: int | None = None
    # SPS/PPS before every IDR: only such clips may be joined to clips whose parameter sets differ.
    # Clips checkpointed before this field existed lack them, so a resume renders them again.
    params_inband: bool = False


class Reel(RenderedFile):
    """The joined reel, the clips it was joined from, and any gain the join added to each clip's sound."""

    clips: list[RenderedClip]
    join_gains_db: list[float] = []  # empty: every clip as rendered


class ClipSound(BaseModel):
    """How the join treats one clip's PCM sound: an extra gain, and whether to limit its peaks."""

    model_config = ConfigDict(frozen=True)

    gain_db: float = 0.0
    limit: bool = False


def gain_db(segment: Segment) -> float:
    """Plain gain that brings the clip to the target, however far; 0 for silence, room tone or no audio."""
    if segment.loudness is None or is_silent(segment.loudness):
        return 0.0
    return LOUDNESS_TARGET - segment.loudness


def needs_limiter(segment: Segment) -> bool:
    """True when the gain would push the true peak past the ceiling."""
    return segment.true_peak is not None and segment.true_peak + gain_db(segment) > TRUE_PEAK_CEILING


def limiter() -> str:
    """The true-peak guard: a look-ahead limiter whose ceiling leaves headroom under TRUE_PEAK_CEILING."""
    ceiling = 10 ** ((TRUE_PEAK_CEILING - _LIMITER_HEADROOM_DB) / 20)
    return f"alimiter=limit={ceiling:.4f}:level=false:latency=true"


def segment_args(
    source: SourceInfo,
    plan: Plan,
    segment: Segment,
    options: OutputOptions,
    out: Path,
    *,
    has_audio: bool,
    coding: Sequence[str] = (),
) -> list[str]:
    """The one ffmpeg command that turns a source range into a finished clip; `coding`: profile and level to match."""
    fps = Fraction(plan.frame_rate)
    samples = round(segment.frames / fps * SAMPLE_RATE)
    args = [*QUIET, *source_input(source.path, start=segment.start, duration=segment.duration + 1)]
    audio_in = "[0:a:0]"
    if not has_audio:
        args += ["-f", "lavfi", "-i", f"anullsrc=r={SAMPLE_RATE}:cl=stereo"]
        audio_in = "[1:a]"
    graph = f"[0:v:0]{video_chain(source, plan, segment)}[v];{audio_in}{audio_chain(segment, samples, has_audio)}[a]"
    return [
        *args,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-frames:v",
        str(segment.frames),
        *x264_args(options),
        *coding,
        # SPS and PPS in-band before every IDR: a reel may join this clip to copied source GOPs whose
        # parameter sets differ, and each part must then carry its own.
        "-bsf:v",
        "h264_mp4toannexb",
        "-c:a",
        "pcm_s24le",
        "-f",
        "mov",
        str(out),
    ]


# libx264's threads, fixed. Its output depends on its thread count (frame threads bound the motion search and
# the rate control's view), and left to itself it takes 1.5 per CPU: a clip rendered again by a worker with
# another number of CPUs (a resume, a failover) would differ from the first render, and a reel would not be
# byte-identical to a clean run's. Four: what two to three CPUs get from auto, where workers usually run; a
# bigger machine is used by RENDER_PARALLELISM and WORKER_CONCURRENCY rather than by more threads per clip.
X264_THREADS = 4
# Nor is a fixed thread count enough: x264's lookahead in a thread of its own makes the stream depend on how the
# threads are scheduled. On a loaded 2-core machine one 320x180 clip coded 4 different streams in 24 encodes;
# with the lookahead in the encoding threads, one stream in 24, at no cost (1080p fast: 3.94 s against 3.92,
# the same bytes). `python -m bench.encoder_determinism` measures it (bench/README.md, "Encoder determinism").
X264_PARAMS = "sync-lookahead=0"


def x264_args(options: OutputOptions) -> list[str]:
    """The reel's video encoder: libx264 at the request's CRF and preset, 4:2:0, tagged BT.709."""
    crf, preset = str(options.encoder_crf), options.encoder_preset
    return [
        *("-c:v", "libx264", "-threads", str(X264_THREADS), "-x264-params", X264_PARAMS),
        *("-crf", crf, "-preset", preset),
        *("-pix_fmt", "yuv420p", *BT709_TAGS),
    ]


def video_chain(source: SourceInfo, plan: Plan, segment: Segment) -> str:
    """fps, crop path, colour and scale (colour on whichever side has fewer pixels), and fades, in that order."""
    filters = [f"fps={plan.frame_rate}"]
    # zscale's conversion to BT.709 costs by the pixel, so it runs before an upscale, on the crop (a 33 s split reel
    # of a 960x540 BT.601 source at 720x1280: 15.1 CPU s to encode converting the stack, 8.2 converting the crops).
    colour = colour_filter(source)
    if (f := plan.framing) and segment.layout == "split":
        assert f.half_width is not None and f.half_height is not None
        early = f.output_width * (f.output_height // 2) > f.half_width * f.half_height
        filters.append(
            split_filter(segment.crop, segment.crop_bottom, f, segment.start, colour=colour if early else "")
        )
        if early:
            colour = ""
    elif f := plan.framing:
        # The crop follows the clip's path (a steady window is a path of one position); then the
        # reel's size, in the same encode.
        filters.append(crop_filter(segment.crop, f.width, f.height, segment.start))
        if (f.output_width, f.output_height) != (f.width, f.height):
            if colour and f.output_width * f.output_height > f.width * f.height:
                filters.append(colour)
                colour = ""
            # setsar=1: the few-pixel change of shape to a standard size must not become non-square pixels.
            filters.append(f"scale={f.output_width}:{f.output_height}:flags=lanczos,setsar=1")
    if colour:
        filters.append(colour)
    filters += video_fades(segment.transition, segment.duration)
    return ",".join(filters)


def audio_chain(segment: Segment, samples: int, has_audio: bool) -> str:
    """Gain (true-peak guarded), fades, and padding/trim to exactly the video's length."""
    filters = [AUDIO_FORMAT] if has_audio else []
    if has_audio and (gain := gain_db(segment)):
        filters.append(f"volume={gain:.3f}dB")
    if has_audio and needs_limiter(segment):
        filters.append(limiter())
    filters += audio_fades(segment.transition, segment.duration)
    filters += ["apad", f"atrim=end_sample={samples}"]
    return ",".join(filters)


async def render_segment(
    source: SourceInfo,
    plan: Plan,
    segment: Segment,
    options: OutputOptions,
    out: Path,
    *,
    binaries: Binaries,
    on_progress: ProgressCallback | None = None,
    reason: str | None = None,
    coding: Sequence[str] = (),
) -> RenderedClip:
    """Encode one clip to `out` (written under a temp name, renamed when complete); `reason`: why not smart.

    `coding` (libx264 profile and level) makes it coded like the source GOPs other clips of the reel copy.
    """
    part = part_name(out)
    args = segment_args(source, plan, segment, options, part, has_audio=source.has_audio, coding=coding)
    await run(binaries.ffmpeg, args, duration=segment.duration, on_progress=on_progress)
    size, digest = await publish(part, out)
    return RenderedClip(path=str(out), size=size, sha256=digest, render_reason=reason, params_inband=True)


async def concat(
    clips: Sequence[RenderedClip],
    out: Path,
    *,
    binaries: Binaries,
    work_dir: Path,
    sound: Sequence[ClipSound] | None = None,
) -> Reel:
    """Join the clips: video copied, audio encoded to AAC once so no joint has an encoder gap.

    `sound` adjusts each clip's PCM on the way (verify's loudness correction): the video packets
    stay exactly those of the first join, since only the audio is encoded here.
    """
    listing = work_dir / "concat.txt"
    # Absolute paths: a resumed job joins clips that earlier attempts left in their own directories.
    listing.write_text("ffconcat version 1.0\n" + "".join(f"file {_quote(c.path)}\n" for c in clips))
    out.parent.mkdir(parents=True, exist_ok=True)
    part = part_name(out)
    args = [*QUIET, "-f", "concat", "-safe", "0", "-i", str(listing)]
    audio_map = ["-map", "0:a:0"]
    if sound is not None:
        # Each clip's sound is its own input, adjusted, then joined sample for sample: the PCM of a
        # clip is exactly as long as its frames, so the joined sound stays in step with the video.
        chains = []
        for i, (clip, adjust) in enumerate(zip(clips, sound, strict=True)):
            args += ["-i", clip.path]
            chains.append(f"[{i + 1}:a:0]{join_chain(adjust)}[a{i}]")
        labels = "".join(f"[a{i}]" for i in range(len(clips)))
        args += ["-filter_complex", ";".join(chains) + f";{labels}concat=n={len(clips)}:v=0:a=1[a]"]
        audio_map = ["-map", "[a]"]
    # A smart clip's copied GOPs carry the source's SPS/PPS, its encoded edges ours: `avc3` says parameter sets
    # change in-band, so players take each IDR's own rather than the sample entry's.
    tag = ["-tag:v", "avc3"] if any(c.render_mode == "smart" for c in clips) else []
    args += [
        "-map",
        "0:v:0",
        *audio_map,
        "-c:v",
        "copy",
        *tag,
        "-c:a",
        "aac",
        *AAC_CODER,
        "-b:a",
        AAC_BITRATE,
        "-ar",
        str(SAMPLE_RATE),
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(part),
    ]
    await run(binaries.ffmpeg, args)
    size, digest = await publish(part, out)
    gains = [round(s.gain_db, 3) for s in sound] if sound is not None else []
    return Reel(path=str(out), size=size, sha256=digest, clips=list(clips), join_gains_db=gains)


def join_chain(sound: ClipSound) -> str:
    """The audio filters the join applies to one clip: gain, then the true-peak guard when asked."""
    filters = ["anull"]
    if sound.gain_db:
        filters.append(f"volume={sound.gain_db:.3f}dB")
    if sound.limit:
        filters.append(limiter())
    return ",".join(filters)


def _quote(path: str) -> str:
    # ffconcat quoting: single quotes, with each ' written as '\''
    return "'" + path.replace("'", "'\\''") + "'"
