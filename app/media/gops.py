"""An H.264 stream's packet index and IDR keyframes, read without decoding: what a smart render cuts by."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.media.ffmpeg import FFmpegError, run
from app.media.inputs import source_input, source_options

_IDR_NAL = 5


@dataclass(frozen=True)
class Packet:
    """One video packet in decode order: timestamps in the stream's time base, where its bytes are, keyframe flag."""

    pts: int
    dts: int
    key: bool
    pos: int
    size: int


async def packet_index(
    ffprobe: str, path: Path, *, start: float | None = None, end: float | None = None
) -> list[Packet]:
    """The video packets in decode order, from the container's index; with `start`, from the keyframe before it."""
    args = ["-v", "error", *source_options(), "-select_streams", "v:0"]
    if start is not None:
        args += ["-read_intervals", f"{max(start, 0.0):.6f}%{'' if end is None else f'{end:.6f}'}"]
    args += ["-show_entries", "packet=pts,dts,flags,pos,size", "-of", "csv=p=0:nk=0", str(path)]
    result = await run(ffprobe, args, capture_stdout=True)
    return parse_packets(result.stdout.decode("ascii", "replace"))


def parse_packets(text: str) -> list[Packet]:
    """Packets from ffprobe's `key=value,…` lines of pts, dts, size, pos and flags."""
    packets = []
    for line in text.splitlines():
        fields = dict(f.partition("=")[::2] for f in line.strip().split(","))
        pts = fields.get("pts", "")
        if not pts.lstrip("-").isdigit():
            continue
        dts = fields.get("dts", "")
        pos = fields.get("pos", "")
        packets.append(
            Packet(
                pts=int(pts),
                dts=int(dts) if dts.lstrip("-").isdigit() else int(pts),
                key=fields.get("flags", "").startswith("K"),
                pos=int(pos) if pos.isdigit() else -1,
                size=int(fields.get("size") or 0),
            )
        )
    return packets


def idr_flags(path: Path, packets: list[Packet], nal_length_size: int) -> list[bool]:
    """Per packet: does it hold an IDR slice? Read from each keyframe's NAL headers in the file, nothing decoded.

    The container's keyframe flag also marks open-GOP recovery points, whose leading pictures reference
    the GOP before: only an IDR starts a GOP that can be copied on its own.
    """
    flags = []
    with path.open("rb") as f:
        for p in packets:
            if not p.key or p.pos < 0:
                flags.append(False)
                continue
            f.seek(p.pos)
            flags.append(_has_idr(f.read(p.size), nal_length_size))
    return flags


def _has_idr(data: bytes, length_size: int) -> bool:
    # Length-prefixed NAL units (ISO 14496-15): a length, then the NAL header whose low 5 bits are its type.
    at = 0
    while at + length_size < len(data):
        length = int.from_bytes(data[at : at + length_size], "big")
        if length <= 0 or at + length_size + length > len(data):
            return False
        if data[at + length_size] & 0x1F == _IDR_NAL:
            return True
        at += length_size + length
    return False


async def keyframe_colours(ffprobe: str, path: Path) -> list[tuple[str | None, ...]]:
    """Primaries, transfer, matrix and range of every keyframe as decoded (each from its own SPS)."""
    args = ["-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries"]
    args += ["frame=color_primaries,color_transfer,color_space,color_range", "-of", "json", str(path)]
    result = await run(ffprobe, args, capture_stdout=True)
    frames = json.loads(result.stdout or b"{}").get("frames", [])
    keys = ("color_primaries", "color_transfer", "color_space", "color_range")
    return [tuple(frame.get(k) for k in keys) for frame in frames]


async def decode_errors(ffmpeg: str, path: Path, start: float, duration: float) -> str:
    """What decoding the video of [start, start + duration) with -xerror reports: "" when every frame is clean.

    The seek lands on the keyframe at or before `start` and decodes from there, so a window that starts on a
    keyframe checks each frame of it. The text is ffmpeg's own, for logs.
    """
    # The deblocking filter only smooths pictures: skipped, decoding takes a third less and finds the same errors.
    args = ["-v", "error", "-xerror", "-skip_loop_filter", "all", *source_input(path, start=start, duration=duration)]
    try:
        result = await run(ffmpeg, [*args, "-map", "0:v:0", "-f", "null", "-"], stderr_lines=4)
    except FFmpegError as exc:
        return exc.reason or f"exit {exc.returncode}"
    return result.stderr.strip()
