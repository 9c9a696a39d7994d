"""Sources with known content for the analysis tests: speech and pauses, shot cuts, a real face that moves.

The speech is the committed espeak-ng fixture (`tests/fixtures/speech_pauses.flac`, its README says
where each sentence is); the face is scikit-image's astronaut photograph, composited with numpy.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from app.media.ffmpeg import find_binaries
from tests.support.media import AAC

FIXTURE = Path(__file__).parent.parent / "fixtures" / "speech_pauses.flac"
RATE = 16000
# Sentences in the fixture, in seconds from its start (tests/fixtures/README.md).
SENTENCES = ((1.000, 5.057), (6.257, 10.615), (11.515, 14.466))
FIXTURE_SECONDS = 15.466
# The face in the 512 px astronaut photograph: x, y, w, h.
ASTRONAUT_FACE = (180, 65, 90, 100)


@dataclass(frozen=True)
class Scene:
    """One shot of a test source: its picture (a lavfi source), and whether it has speech."""

    seconds: float
    picture: str  # e.g. "testsrc2" (moving) or "color=c=gray" (a still frame)
    speech: bool


def speech_fixture() -> np.ndarray:
    """The fixture as 16 kHz int16 samples."""
    raw = subprocess.run(
        [find_binaries().ffmpeg, "-v", "error", "-i", str(FIXTURE), "-f", "s16le", "-ac", "1", "-ar", str(RATE), "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype="<i2")


def _spoken(scenes: Sequence[Scene]) -> list[float]:
    """Where the fixture starts, each time it is spoken: from 0.5 s into a scene with speech, as often as it fits."""
    starts: list[float] = []
    t = 0.0
    for scene in scenes:
        offset = t + 0.5
        while scene.speech and offset + FIXTURE_SECONDS <= t + scene.seconds:
            starts.append(offset)
            offset += FIXTURE_SECONDS
        t += scene.seconds
    return starts


def scene_sentences(scenes: Sequence[Scene]) -> list[tuple[float, float]]:
    """The spans of every sentence a source of `scenes` speaks (what `scenes_source` returns), without making it."""
    return [(offset + a, offset + b) for offset in _spoken(scenes) for a, b in SENTENCES]


def scenes_source(
    path: Path, scenes: Sequence[Scene], *, size: str = "320x180", rate: int = 25, audio: bool = True
) -> list[tuple[float, float]]:
    """Write a source of `scenes` cut hard one to the next; returns the spans of every sentence spoken."""
    speech = speech_fixture()
    total = sum(s.seconds for s in scenes)
    rng = np.random.default_rng(5)
    pcm = rng.normal(0, 20, int(total * RATE)).astype(np.int16)  # room tone at about −64 dBFS
    for offset in _spoken(scenes):
        start = int(offset * RATE)
        pcm[start : start + len(speech)] = speech
    wav = path.with_suffix(".s16")
    wav.write_bytes(pcm.astype("<i2").tobytes())
    inputs: list[str] = []
    for scene in scenes:
        joiner = ":" if "=" in scene.picture else "="
        inputs += ["-f", "lavfi", "-i", f"{scene.picture}{joiner}s={size}:r={rate}:d={scene.seconds}"]
    n = len(scenes)
    joined = "".join(f"[{i}:v]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    subprocess.run(
        [
            find_binaries().ffmpeg, "-v", "error", "-y", *inputs,
            "-f", "s16le", "-ar", str(RATE), "-ac", "1", "-i", str(wav),
            "-filter_complex", joined, "-map", "[v]", *(["-map", f"{n}:a"] if audio else []),
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p",
            *AAC, "-b:a", "96k", "-ar", "48000", str(path),
        ],
        check=True,
    )  # fmt: skip
    wav.unlink()
    return scene_sentences(scenes)


def astronaut(size: int) -> np.ndarray:
    """The astronaut photograph, grey, `size` px square."""
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)


def face_box(size: int, x: float, y: float) -> tuple[float, float, float, float]:
    """Where the face is (x, y, w, h) when the photograph of `size` px has its corner at (x, y)."""
    s = size / 512
    fx, fy, fw, fh = ASTRONAUT_FACE
    return x + fx * s, y + fy * s, fw * s, fh * s


def face_source(
    path: Path,
    *,
    seconds: float,
    corner: Callable[[float], tuple[float, float]],
    size: int = 320,
    frame: tuple[int, int] = (640, 360),
    rate: int = 25,
    audio: bool = True,
    letterbox: int = 0,
) -> None:
    """A source showing the astronaut with its corner at `corner(t)` over a textured background.

    `letterbox` paints that many black rows at the top and at the bottom, over the picture.
    """
    w, h = frame
    photo = astronaut(size)
    rng = np.random.default_rng(3)
    background = cv2.GaussianBlur(rng.integers(60, 200, (h, w), dtype=np.uint8), (0, 0), 6)
    args = [find_binaries().ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray"]
    args += ["-s", f"{w}x{h}", "-r", str(rate), "-i", "-"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=48000:duration={seconds}", *AAC]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-t", str(seconds)]
    with subprocess.Popen([*args, str(path)], stdin=subprocess.PIPE) as encoder:
        assert encoder.stdin is not None
        for i in range(int(seconds * rate)):
            picture = background.copy()
            x, y = (round(v) for v in corner(i / rate))
            picture[y : y + size, x : x + size] = photo
            if letterbox:
                picture[:letterbox] = 0
                picture[h - letterbox :] = 0
            encoder.stdin.write(picture.tobytes())
        encoder.stdin.close()
    assert encoder.returncode == 0
