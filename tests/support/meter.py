"""An independent loudness meter (pyloudnorm, BS.1770-4) and ffprobe readings of a reel."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.media.ffmpeg import find_binaries

RATE = 48000


@dataclass(frozen=True)
class ReelLoudness:
    """Integrated loudness of the whole reel and of each clip (1 s trimmed at each edge, where fades are)."""

    integrated: float
    clips: list[float]

    @property
    def spread(self) -> float:
        """Loudest clip minus quietest."""
        return max(self.clips) - min(self.clips)


def measure_reel(path: Path, clip_seconds: Sequence[float]) -> ReelLoudness:
    """Decode the reel's audio and meter it with pyloudnorm, not with ffmpeg's ebur128."""
    audio = reel_audio(path)
    import pyloudnorm  # here: with scipy.signal it costs every xdist worker 0.8 s to import at collection

    meter = pyloudnorm.Meter(RATE)
    clips, t = [], 0.0
    for d in clip_seconds:
        clips.append(float(meter.integrated_loudness(audio[int((t + 1) * RATE) : int((t + d - 1) * RATE)])))
        t += d
    return ReelLoudness(float(meter.integrated_loudness(audio)), clips)


def true_peak_dbtp(audio: np.ndarray) -> float:
    """BS.1770 true peak: the highest sample after 4x oversampling (scipy's polyphase resampler), in dBTP."""
    from scipy.signal import resample_poly  # here, as pyloudnorm above

    oversampled = resample_poly(audio, 4, 1, axis=0)
    return float(20 * np.log10(max(np.max(np.abs(oversampled)), 1e-12)))


def reel_audio(path: Path) -> np.ndarray:
    """The reel's sound as float samples, stereo at 48 kHz, decoded by ffmpeg and nothing of ours."""
    pcm = subprocess.run(
        [
            find_binaries().ffmpeg,
            "-v",
            "error",
            "-i",
            str(path),
            "-vn",
            "-ac",
            "2",
            "-ar",
            str(RATE),
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(pcm, dtype="<f4").reshape(-1, 2)


def video_stream(path: Path) -> dict[str, Any]:
    """ffprobe's view of the first video stream, with the container duration added."""
    out = subprocess.run(
        [find_binaries().ffprobe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    data = json.loads(out)
    stream: dict[str, Any] = next(s for s in data["streams"] if s["codec_type"] == "video")
    stream["format_duration"] = float(data["format"]["duration"])
    stream["audio_streams"] = [s for s in data["streams"] if s["codec_type"] == "audio"]
    return stream


def frame_yuv(path: Path, at: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, Cb and Cr planes of the 4:2:0 frame at `at` seconds, as stored (no conversion)."""
    raw = subprocess.run(
        [
            find_binaries().ffmpeg,
            "-v",
            "error",
            "-ss",
            str(at),
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    y_size, c_size = width * height, (width // 2) * (height // 2)
    buf = np.frombuffer(raw, dtype=np.uint8)
    y = buf[:y_size].reshape(height, width)
    cb = buf[y_size : y_size + c_size].reshape(height // 2, width // 2)
    cr = buf[y_size + c_size : y_size + 2 * c_size].reshape(height // 2, width // 2)
    return y, cb, cr
