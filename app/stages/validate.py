"""Stage 1: is this a readable, complete, supported SDR video? Say plainly what is wrong if not."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from app.domain.errors import InputError, without_paths
from app.media.ffmpeg import Binaries, FFmpegError, run
from app.media.files import file_identity, file_sha256
from app.media.inputs import NOT_ON_WHITELIST, source_input
from app.media.probe import MediaInfo, VideoStream, probe
from app.stages.fetch import Staged

SUPPORTED_CODECS = frozenset(
    {
        "h264",
        "hevc",
        "vp8",
        "vp9",
        "av1",
        "mpeg4",
        "mpeg2video",
        "mpeg1video",
        "prores",
        "mjpeg",
        "dnxhd",
        "theora",
        "h263",
        "wmv3",
        "vc1",
        "ffv1",
        "rawvideo",
        "png",
        "qtrle",
        "cfhd",
    }
)
HDR_TRANSFERS = {"smpte2084": "PQ (SMPTE ST 2084)", "arib-std-b67": "HLG (ARIB STD-B67)"}
HDR_PRIMARIES = {"bt2020": "BT.2020"}
MIN_SOURCE_SECONDS = 1.0
_DECODE_PROBE_SECONDS = 2.0


class SourceInfo(BaseModel):
    """Facts about a source that passed validation; later stages read nothing else."""

    model_config = ConfigDict(frozen=True)

    path: str
    size: int
    sha256: str
    identity: str | None = None  # file_identity() taken before hashing: lets a resume trust the hash without redoing it
    duration: float
    width: int  # as displayed, after rotation
    height: int
    frame_rate: str
    codec: str
    pix_fmt: str | None
    color_primaries: str | None
    color_transfer: str | None
    color_space: str | None
    color_range: str | None
    has_audio: bool
    audio_channels: int
    media: MediaInfo  # all ffprobe said of the source, smart render's coding included: no later stage asks again


async def validate(source: Staged, *, binaries: Binaries, max_seconds: float) -> SourceInfo:
    """Probe, decode-check both ends, hash (unless fetching did); raise InputError with a plain-language message."""
    path = Path(source.path)
    if not path.is_file():
        raise InputError("source_missing", f"The source file {path.name!r} no longer exists.")
    try:
        info = await probe(binaries.ffprobe, path)
    except FFmpegError as exc:
        if NOT_ON_WHITELIST in exc.stderr_tail:
            raise InputError(
                "unsupported_container",
                f"{path.name!r} is not a video file in a supported container: playlists (HLS, DASH) and "
                "concat lists are refused. Submit the media file itself (MP4, MOV, MKV, WebM, MPEG-TS, AVI, FLV…).",
            ) from exc
        if exc.killed_by_signal:  # a crash is no verdict on the file: say what is known and what works
            raise InputError(
                "source_unreadable",
                f"{path.name!r} could not be read: {exc.tool} crashed on it. The bundled ffmpeg 6.0 crashes on "
                "every MPEG-TS file; remux it to MP4 (ffmpeg -i in.ts -c copy out.mp4) or set FFMPEG_PATH to "
                "another ffmpeg build.",
            ) from exc
        raise InputError(
            "source_unreadable",
            f"{path.name!r} could not be read as a video ({_reason(exc)}). The file is corrupt, truncated "
            "or not a media file: upload it again or re-export it.",
        ) from exc
    video = _check_streams(path, info, max_seconds)
    # Taken before hashing: a change while the hash runs shows as a new identity, so it is never trusted.
    identity = file_identity(path)
    # A copy hashed while it streamed in is not read again, as long as it is still that very file.
    streamed = source.sha256 if source.sha256 is not None and identity == source.identity else None
    digest, _ = await asyncio.gather(
        asyncio.to_thread(file_sha256, path) if streamed is None else _known(streamed),
        _decode_probe(binaries.ffmpeg, path, info.duration),
    )
    width, height = video.display_size
    return SourceInfo(
        path=str(path),
        size=path.stat().st_size,
        sha256=digest,
        identity=identity,
        duration=info.duration,
        width=width,
        height=height,
        frame_rate=video.frame_rate,
        codec=video.codec,
        pix_fmt=video.pix_fmt,
        color_primaries=video.color_primaries,
        color_transfer=video.color_transfer,
        color_space=video.color_space,
        color_range=video.color_range,
        has_audio=info.audio is not None,
        audio_channels=info.audio.channels if info.audio else 0,
        media=info,
    )


async def _known(sha256: str) -> str:
    return sha256


def _check_streams(path: Path, info: MediaInfo, max_seconds: float) -> VideoStream:
    video = info.video
    if video is None:
        raise InputError("no_video_stream", f"{path.name!r} has no video stream: submit a video file.")
    if video.codec not in SUPPORTED_CODECS:
        raise InputError(
            "unsupported_codec",
            f"{path.name!r} uses the {video.codec} video codec, which is not supported; "
            f"supported are {', '.join(sorted(SUPPORTED_CODECS))}.",
        )
    check_sdr(video)
    if not MIN_SOURCE_SECONDS <= info.duration <= max_seconds:
        raise InputError(
            "duration_out_of_range",
            f"{path.name!r} is {info.duration:.1f} s long; sources must be between "
            f"{MIN_SOURCE_SECONDS:.0f} s and {max_seconds:.0f} s.",
        )
    if video.width < 16 or video.height < 16:
        raise InputError("video_too_small", f"{path.name!r} is {video.width}x{video.height}; at least 16x16 is needed.")
    return video


def check_sdr(video: VideoStream) -> None:
    """Reject HDR: PQ or HLG transfer, or BT.2020 primaries."""
    what = HDR_TRANSFERS.get(video.color_transfer or "") or HDR_PRIMARIES.get(video.color_primaries or "")
    if what:
        raise InputError(
            "hdr_unsupported",
            f"HDR input not supported: the source is {what}. Tone-map it to SDR BT.709 before submitting.",
        )


async def _decode_probe(ffmpeg: str, path: Path, duration: float) -> None:
    # Decoding a little at both ends catches a file cut short after its index was written,
    # which ffprobe alone reports as whole.
    tail_start = max(0.0, duration - _DECODE_PROBE_SECONDS - 0.5)
    starts = [0.0] if tail_start < _DECODE_PROBE_SECONDS else [0.0, tail_start]
    counts = await asyncio.gather(*(_decoded_frames(ffmpeg, path, s) for s in starts))
    for start, (frames, errors) in zip(starts, counts, strict=True):
        if frames == 0 or errors:
            where = "start" if start == 0 else "end"
            detail = f" ({errors})" if errors else ""
            raise InputError(
                "source_truncated",
                f"{path.name!r} cannot be decoded near its {where}{detail}: the file is truncated or corrupt. "
                "Upload the complete file again.",
            )


async def _decoded_frames(ffmpeg: str, path: Path, start: float) -> tuple[int, str]:
    args = [
        "-v",
        "error",
        *source_input(path, start=start),
        "-map",
        "0:v:0",
        "-t",
        f"{_DECODE_PROBE_SECONDS}",
        "-f",
        "framecrc",
        "-",
    ]
    try:
        result = await run(ffmpeg, args, capture_stdout=True)
    except FFmpegError as exc:
        return 0, _reason(exc)
    frames = sum(1 for line in result.stdout.splitlines() if line and not line.startswith(b"#"))
    errors = [ln for ln in result.stderr.splitlines() if ln.strip()]
    return frames, without_paths(errors[-1]) if errors else ""


def _reason(exc: FFmpegError) -> str:
    return f"{exc.tool} crashed reading it" if exc.killed_by_signal else exc.reason
