"""Frame-level facts of a file, read by ffmpeg and ffprobe alone: hashes, luma planes, timestamps, IDR frames."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from app.media.ffmpeg import find_binaries


def frame_hashes(path: Path) -> list[str]:
    """The MD5 of every decoded video frame, in display order (ffmpeg's framemd5 muxer)."""
    out = _ffmpeg("-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-")
    return [line.rsplit(",", 1)[1].strip() for line in out.decode().splitlines() if line and not line.startswith("#")]


def luma_frames(path: Path, width: int, height: int) -> np.ndarray:
    """Every frame's Y plane, decoded, as an array of shape (frames, height, width)."""
    raw = _ffmpeg("-i", str(path), "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", "gray", "-")
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width)


def decode_errors(path: Path) -> str:
    """What ffmpeg -xerror prints while decoding every frame and sample: empty for a clean file."""
    ffmpeg = find_binaries().ffmpeg
    done = subprocess.run([ffmpeg, "-v", "error", "-xerror", "-i", str(path), "-f", "null", "-"], capture_output=True)
    return done.stderr.decode() + ("" if done.returncode == 0 else f"exit {done.returncode}")


def frame_numbers(path: Path, rate: Fraction) -> list[int | None]:
    """Each video packet's time as a frame number on the `rate` grid (None when off it), in decode order."""
    stream = _probe(path, "-show_entries", "stream=time_base")["streams"][0]
    tb = Fraction(stream["time_base"])
    packets = _probe(path, "-show_entries", "packet=pts")["packets"]
    numbers: list[int | None] = []
    for p in packets:
        exact = int(p["pts"]) * tb * rate
        numbers.append(int(exact) if exact.denominator == 1 else None)
    return numbers


def idr_frames(path: Path, rate: Fraction) -> list[int]:
    """Frame numbers of the keyframes as the decoder marks them (only IDRs, for libx264's closed GOPs)."""
    stream = _probe(path, "-show_entries", "stream=time_base")["streams"][0]
    tb = Fraction(stream["time_base"])
    frames = _probe(path, "-skip_frame", "nokey", "-show_entries", "frame=pts,key_frame")["frames"]
    return [round(int(f["pts"]) * tb * rate) for f in frames if int(f["key_frame"])]


def _probe(path: Path, *args: str) -> dict[str, list[dict[str, str]]]:
    ffprobe = find_binaries().ffprobe
    argv = [ffprobe, "-v", "error", "-select_streams", "v:0", *args, "-of", "json", str(path)]
    result: dict[str, list[dict[str, str]]] = json.loads(subprocess.run(argv, capture_output=True, check=True).stdout)
    return result


def _ffmpeg(*args: str) -> bytes:
    return subprocess.run([find_binaries().ffmpeg, "-v", "error", *args], capture_output=True, check=True).stdout
