"""Two people at a desk taking turns to speak, with the ground truth a speaker-framing test scores against.

Both are the astronaut photograph (`talking_head.py`); the second is mirrored, darker, in a blue suit. Each mouth opens
by its own voice's envelope over the frame and is still while that person is silent; both heads sway all the time,
so motion alone does not say who speaks. The voices are pitched buzzes in 3-5 Hz syllables: 110 Hz and dark for
speaker 0, 210 Hz and bright for speaker 1.

"In the crop" means one thing here: a face box's centre (cx, cy) lies inside the window, x <= cx < x + w and
y <= cy < y + h, in source pixels.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from app.media.ffmpeg import find_binaries
from tests.support.media import AAC
from tests.support.talking_head import LEVELS, talking_head

Box = tuple[float, float, float, float]  # x, y, w, h in source pixels
Turn = tuple[float, float, int]  # start, end (seconds), speaker 0 or 1
Window = Callable[[float], Box]

SAMPLE_RATE = 48000
# Face centres as fractions of the frame: in one wide shot, or each person in a half of a split-screen source.
_LAYOUTS = {"wide": ((0.21, 0.40), (0.79, 0.44)), "split": ((0.25, 0.42), (0.75, 0.42))}
_GAINS = {"mix": ((1.0, 1.0), (1.0, 1.0)), "panned": ((1.0, 0.3), (0.3, 1.0)), "mono": ((1.0,), (1.0,))}
_VOICES = ((110.0, 700.0), (210.0, 2200.0))  # pitch and low-pass corner (spectral tilt) of each voice, Hz
_SPEECH_RMS = 0.1  # each voice while it speaks, -20 dBFS


def inside(window: Box, face: Box) -> bool:
    """Whether the face's centre lies inside the window (left and top edges in, right and bottom out)."""
    x, y, w, h = window
    cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
    return x <= cx < x + w and y <= cy < y + h


@dataclass(frozen=True)
class Conversation:
    """What `conversation_source` drew and said.

    `turns` are (start, end, speaker) in seconds, sorted by start (they overlap only with `split_talk`); `frame` is
    (width, height); `boxes` holds both faces' (x, y, w, h) in every frame, exactly as drawn, sway included.
    """

    turns: tuple[Turn, ...]
    frame: tuple[int, int]
    rate: int
    seconds: float
    boxes: np.ndarray = field(repr=False, compare=False)  # shape (frames, 2, 4)

    def face_boxes(self, t: float) -> tuple[Box, Box]:
        """Both faces' boxes in the frame shown at `t` (frame i is shown from i / rate)."""
        i = min(max(int(t * self.rate + 1e-6), 0), len(self.boxes) - 1)
        (ax, ay, aw, ah), (bx, by, bw, bh) = self.boxes[i].tolist()
        return (ax, ay, aw, ah), (bx, by, bw, bh)

    def speakers_at(self, t: float) -> tuple[int, ...]:
        """Everyone talking at `t`: one person, both (only with `split_talk`) or nobody."""
        return tuple(sorted({who for start, end, who in self.turns if start <= t < end}))

    def speaker_at(self, t: float) -> int | None:
        """The one person talking at `t`; None in a pause or while both talk."""
        who = self.speakers_at(t)
        return who[0] if len(who) == 1 else None

    def framed_share(self, window_at: Window, *, grace: float = 1.0) -> float:
        """Share of single-speaker frames whose window has the speaker's face in the crop and not the other's.

        A frame counts from `grace` seconds after each speaker change: the first frame where `speaker_at` names
        someone other than the last person it named (the first speaker included), so a reframer may take that
        long to cut or pan over.
        """
        hits = total = 0
        last, changed = -1, 0.0
        for t in self._frame_times():
            if (who := self.speaker_at(t)) is not None and who != last:
                last, changed = who, t
            if who is not None and t >= changed + grace:
                window, faces = window_at(t), self.face_boxes(t)
                total += 1
                hits += inside(window, faces[who]) and not inside(window, faces[1 - who])
        return _share(hits, total)

    def kept_share(self, window_at: Window, speaker: int) -> float:
        """Share of the frames where anyone talks whose window has `speaker`'s face in the crop (a split half)."""
        times = [t for t in self._frame_times() if self.speakers_at(t)]
        return _share(sum(inside(window_at(t), self.face_boxes(t)[speaker]) for t in times), len(times))

    def _frame_times(self) -> list[float]:
        return [i / self.rate for i in range(len(self.boxes))]


def _share(hits: int, total: int) -> float:
    if not total:
        raise ValueError("no frame to score: nobody speaks outside the grace periods")
    return hits / total


def conversation_turns(seconds: float, *, seed: int = 0, split_talk: bool = False) -> tuple[Turn, ...]:
    """Turns of 3-10 s from 0.5 s to 0.3 s before the end, the speakers alternating from a random first one.

    Pauses between turns last 0.2-0.8 s; with `split_talk` each answer instead starts 1-2 s before the turn it
    answers ends, so both talk at once for that long.
    """
    rng = np.random.default_rng(seed)
    turns: list[Turn] = []
    t, who, before = 0.5, int(rng.integers(2)), 0.0
    while t + 1.0 < seconds - 0.3:
        end = min(t + rng.uniform(3.0, 10.0), seconds - 0.3)
        turns.append((round(t, 3), round(end, 3), who))
        if end >= seconds - 0.3:
            break
        t = max(end - rng.uniform(1.0, 2.0), before + 0.2) if split_talk else end + rng.uniform(0.2, 0.8)
        who, before = 1 - who, end
    return tuple(turns)


def _room(w: int, h: int, desk: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A blotchy, grainy beige wall with dim frames on it; a wooden desk, from row `desk` down, to put in front."""
    light = cv2.resize(rng.uniform(-35, 35, (h // 60 + 2, w // 60 + 2)).astype(np.float32), (w, h))
    wall = np.array([150, 170, 185], np.float32) + (light + rng.normal(0, 25, (h, w)).astype(np.float32))[..., None]
    for _ in range(10):
        x, y, a, b = (int(v) for v in rng.uniform((0, 0, 0.04 * w, 0.04 * h), (w, 0.6 * h, 0.15 * w, 0.2 * h)))
        cv2.rectangle(wall, (x, y), (x + a, y + b), (rng.uniform(60, 200) + rng.uniform(-25, 25, 3)).tolist(), -1)
    rows = max(h - desk, 1)  # a desk below the frame still has one row, never drawn
    grain = cv2.GaussianBlur(rng.normal(0, 20, (rows, w)).astype(np.float32), (0, 0), sigmaX=25, sigmaY=0.8)
    shade = np.linspace(1.1, 0.6, rows, dtype=np.float32)[:, None, None]  # darker towards the viewer
    wood = (np.array([50, 85, 130], np.float32) + grain[..., None]) * shade
    return (np.clip(cv2.GaussianBlur(wall, (0, 0), 1.5), 0, 255).astype(np.uint8),
            np.clip(wood, 0, 255).astype(np.uint8))  # fmt: skip


def _envelope(turns: tuple[Turn, ...], speaker: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Syllables of 0.12-0.28 s, 0.03-0.09 s apart with an occasional breath, inside the speaker's turns."""
    env = np.zeros(n, np.float32)
    for start, end, who in turns:
        t = start
        while who == speaker and t < end - 0.05:
            a, b = int(t * SAMPLE_RATE), min(int(min(t + rng.uniform(0.12, 0.28), end) * SAMPLE_RATE), n)
            env[a:b] = rng.uniform(0.55, 1.0) * np.sin(np.linspace(0, np.pi, b - a)) ** 0.6
            t = b / SAMPLE_RATE + rng.uniform(0.03, 0.09) + (rng.uniform(0.15, 0.3) if rng.random() < 0.12 else 0)
    return env


def _voice(env: np.ndarray, pitch: float, corner: float, rng: np.random.Generator) -> np.ndarray:
    """A band-limited buzz (harmonics to 4 kHz) with a wandering pitch, tilted by a low-pass, shaped by `env`."""
    t = np.arange(len(env)) / SAMPLE_RATE
    f0 = pitch * (1 + 0.08 * np.sin(2 * np.pi * 0.6 * t + rng.uniform(0, 6.3)) + 0.04 * np.sin(2 * np.pi * 2.9 * t))
    theta = np.cumsum(2 * np.pi * f0 / SAMPLE_RATE) % (2 * np.pi)
    k, half = int(4000 // pitch), np.sin(theta / 2)
    safe = np.abs(half) > 1e-4  # the Dirichlet kernel: sum of cos(j theta) for j = 1..k, without its 0/0 peaks
    buzz = np.where(safe, np.sin((k + 0.5) * theta) / (2 * np.where(safe, half, 1)), k + 0.5) - 0.5
    buzz = _filtered(buzz, lambda f: 1 / (1 + (f / corner) ** 2))
    hiss = _filtered(rng.normal(0, 1, len(t)), lambda f: 1 / (1 + (3000 / np.maximum(f, 1)) ** 2))
    voice = env * (buzz / buzz.std() + 0.2 * hiss / hiss.std())
    return voice * _SPEECH_RMS / np.sqrt(np.mean(voice[env > 0] ** 2)) if (env > 0).any() else voice


def _filtered(x: np.ndarray, gain: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """`x` with each frequency's amplitude multiplied by `gain(frequency in Hz)`."""
    return np.fft.irfft(np.fft.rfft(x) * gain(np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)), len(x))


def _music(n: int, rms: float, rng: np.random.Generator) -> np.ndarray:
    """Major chords changing every 2 s over a kick on the beat (120 bpm) and a hi-hat off it, at `rms`."""
    t = np.arange(n) / SAMPLE_RATE
    root = np.array([261.6, 196.0, 220.0, 174.6])[(t // 2).astype(int) % 4]
    bar = t % 2
    chords = (
        sum(np.sin(2 * np.pi * root * r * t) for r in (0.5, 1.0, 1.26, 1.5)) * np.exp(-bar) * (1 - np.exp(-40 * bar))
    )
    beat = t % 0.5
    kick = np.sin(2 * np.pi * (50 * beat + 2 * (1 - np.exp(-beat * 30)))) * np.exp(-beat * 12)
    hat = rng.normal(0, 0.3, n) * np.exp(-((t + 0.25) % 0.5) * 60)
    music = 0.3 * chords + kick + hat
    return music * (rms / music.std())


def conversation_source(
    path: Path,
    *,
    seconds: float,
    frame: tuple[int, int] = (1280, 720),
    face_height: float = 0.10,
    rate: int = 25,
    turns: Sequence[Turn] | None = None,
    seed: int = 0,
    stereo: str = "mix",
    music_db: float | None = None,
    layout: str = "wide",
    split_talk: bool = False,
) -> Conversation:
    """Write an H.264 + AAC (48 kHz) mp4 of two people talking in turns; returns what was drawn and said.

    `face_height` is each face box's height as a share of the frame's; `turns` (start, end, speaker) replace the
    random ones drawn from `seed` (see `conversation_turns`, which `split_talk` is passed to). `stereo` is "mix"
    (both voices in both channels), "panned" (speaker 0 at gain 1.0 left and 0.3 right, speaker 1 the other way) or
    "mono" (one channel). `music_db` adds a music bed at that RMS relative to a voice. `layout` is "wide" (one shot,
    faces at 0.21 and 0.79 of the width, the right one lower) or "split" (a side-by-side source, each face centred
    in its own half, with a divider).
    """
    w, h = frame
    rng = np.random.default_rng(seed)
    said = tuple(sorted(turns)) if turns is not None else conversation_turns(seconds, seed=seed, split_talk=split_talk)
    n, frames = round(seconds * SAMPLE_RATE), round(seconds * rate)
    envs = [_envelope(said, p, n, rng) for p in (0, 1)]
    voices = [_voice(env, pitch, corner, rng) for env, (pitch, corner) in zip(envs, _VOICES, strict=True)]
    bed = _music(n, _SPEECH_RMS * 10 ** (music_db / 20), rng) if music_db is not None else np.zeros(n)
    gains = _GAINS[stereo]
    pcm = np.stack([voices[0] * g0 + voices[1] * g1 + bed for g0, g1 in zip(*gains, strict=True)], axis=1)
    audio = path.with_suffix(".f32")
    audio.write_bytes(np.clip(pcm, -1, 1).astype("<f4").tobytes())

    people = [talking_head(face_height * h, second=second) for second in (False, True)]
    face = np.array([person.face for person in people])  # per person: (x, y, w, h) in the sprite
    t = np.arange(frames) / rate
    corners = np.zeros((frames, 2, 2), int)
    for p, (fx, fy) in enumerate(_LAYOUTS[layout]):
        sway_x = 0.012 * w * np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * t + rng.uniform(0, 6.3))
        sway_y = 0.008 * h * np.sin(2 * np.pi * rng.uniform(0.2, 0.4) * t + rng.uniform(0, 6.3))
        corners[:, p, 0] = np.rint(fx * w + sway_x - face[p, 0] - face[p, 2] / 2)
        corners[:, p, 1] = np.rint(fy * h + sway_y - face[p, 1] - face[p, 3] / 2)
    boxes = np.concatenate([corners + face[:, :2], np.broadcast_to(face[:, 2:], (frames, 2, 2))], axis=2)
    # A frame's mouth opening is its voice's mean envelope over the frame's samples.
    edges = (np.arange(frames + 1) * SAMPLE_RATE / rate).astype(int).clip(0, n)
    sums = [np.concatenate([[0.0], np.cumsum(env, dtype=np.float64)])[edges] for env in envs]
    levels = [np.rint(np.diff(c) / np.maximum(np.diff(edges), 1) * (LEVELS - 1)).astype(int) for c in sums]

    top = min(h, int(corners[:, :, 1].min() + people[0].desk))
    background, desk = _room(w, h, top, rng)
    if layout == "split":  # two feeds side by side: the right one's wall tinted, a dark bar between them
        background[:, w // 2 :] = (background[:, w // 2 :] * np.array([1.0, 0.85, 0.7])).astype(np.uint8)
        for layer in (background, desk):
            layer[:, w // 2 - max(1, w // 300) : w // 2 + max(1, w // 300)] = 20
    args = [find_binaries().ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}"]
    args += ["-r", str(rate), "-i", "-", "-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", str(len(gains[0]))]
    args += ["-i", str(audio), "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23"]
    args += ["-pix_fmt", "yuv420p", *AAC, "-b:a", "128k", "-ar", str(SAMPLE_RATE), str(path)]
    try:
        with subprocess.Popen(args, stdin=subprocess.PIPE) as encoder:
            assert encoder.stdin is not None
            for i in range(frames):
                canvas = background.copy()
                for p, person in enumerate(people):
                    person.paste(canvas, levels[p][i], *corners[i, p])
                canvas[top:] = desk[: h - top]
                encoder.stdin.write(cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).data)  # as ffmpeg's BT.601
            encoder.stdin.close()
    finally:
        audio.unlink()
    if encoder.returncode:
        raise RuntimeError(f"ffmpeg exited with {encoder.returncode} writing {path.name}")
    return Conversation(turns=said, frame=frame, rate=rate, seconds=seconds, boxes=boxes)
