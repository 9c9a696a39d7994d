"""Test sound with known truth: talk built from the espeak-ng words of `tests/fixtures/speech_words.flac`, and music.

The fixture's README says how the words were made and where each one is. Talk is assembled here, at
test time, from those words and chosen gaps, so every word's start and end in the result is known
exactly. Music (chords, bass and drums) is synthesised with numpy: no voice in it by construction.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import ffmpeg
import numpy as np

RATE = 16_000
FIXTURE = Path(__file__).parents[1] / "fixtures" / "speech_words.flac"
# (word, first sample, sample after the last) in the fixture; en-us voice, then the en-us+whisper voice.
WORDS: tuple[tuple[str, int, int], ...] = (
    ("today", 4000, 12507), ("we", 16507, 22626), ("turn", 26626, 33467), ("long", 37467, 46115),
    ("videos", 50115, 59880), ("into", 63880, 70297), ("short", 74297, 81809), ("highlight", 85809, 94617),
    ("reels", 98617, 107203), ("and", 111203, 117807), ("never", 121807, 129999), ("cut", 133999, 139396),
    ("a", 143396, 148579), ("word", 152579, 160039), ("in", 164039, 169426), ("half", 173426, 180358),
    ("thank", 184358, 192579), ("you", 196579, 202504), ("for", 206504, 213316), ("watching", 217316, 226906),
)  # fmt: skip
WHISPERED: tuple[tuple[str, int, int], ...] = (
    ("listen", 230906, 238536), ("to", 242536, 247683), ("this", 251683, 258227), ("quiet", 262227, 270778),
    ("part", 274778, 281526),
)  # fmt: skip
Span = tuple[float, float]


@cache
def fixture_pcm() -> np.ndarray:
    """The fixture decoded to int16 16 kHz mono."""
    result = subprocess.run(
        [str(ffmpeg.FFMPEG_PATH), "-v", "error", "-i", str(FIXTURE), "-f", "s16le", "-ac", "1", "-ar", "16000", "-"],
        check=True,
        capture_output=True,
    )
    return np.frombuffer(result.stdout, dtype=np.int16)


def word(index: int, *, whispered: bool = False) -> np.ndarray:
    """One word's samples as float (full scale 1.0)."""
    _, a, b = (WHISPERED if whispered else WORDS)[index % (len(WHISPERED) if whispered else len(WORDS))]
    return fixture_pcm()[a:b].astype(np.float64) / 32768.0


def talk(
    seconds: float,
    *,
    word_gap: tuple[float, float] = (0.04, 0.09),
    sentence_gap: tuple[float, float] | None = (0.4, 0.9),
    sentence_words: tuple[int, int] = (5, 9),
    seed: int = 0,
    lead: float = 0.5,
) -> tuple[np.ndarray, list[Span], list[Span]]:
    """Sentences of fixture words: (float samples, word spans, sentence spans), `seconds` long.

    Gaps inside a sentence are drawn from `word_gap`; between sentences from `sentence_gap` (None: the
    same as between words, so there is no pause at all).
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    out = np.zeros(n)
    pos, k = round(lead * RATE), 0
    words: list[Span] = []
    sentences: list[Span] = []
    while True:
        count = int(rng.integers(sentence_words[0], sentence_words[1] + 1))
        first = pos
        for i in range(count):
            x = word(k)
            if pos + len(x) > n:
                return out, words, sentences
            out[pos : pos + len(x)] = x
            words.append((pos / RATE, (pos + len(x)) / RATE))
            pos, k = pos + len(x), k + 1
            if i < count - 1:
                pos += round(rng.uniform(*word_gap) * RATE)
        sentences.append((first / RATE, pos / RATE))
        pos += round(rng.uniform(*(sentence_gap or word_gap)) * RATE)


def whisper_after_speech(*, whisper_db: float = -30.0) -> tuple[np.ndarray, list[Span], list[Span]]:
    """Five normal words, 0.6 s of nothing, five whispered words `whisper_db` under them: (samples, normal, whisper)."""
    out: list[np.ndarray] = [np.zeros(RATE // 2)]
    spans: tuple[list[Span], list[Span]] = ([], [])
    pos = RATE // 2
    normal_rms = float(np.sqrt(np.mean(np.concatenate([word(i) for i in range(5)]) ** 2)))
    quiet = np.concatenate([word(i, whispered=True) for i in range(5)])
    gain = normal_rms * 10 ** (whisper_db / 20) / float(np.sqrt(np.mean(quiet**2)))
    for which, whispered in ((0, False), (1, True)):
        for i in range(5):
            x = word(i, whispered=whispered) * (gain if whispered else 1.0)
            out += [x, np.zeros(round(0.08 * RATE))]
            spans[which].append((pos / RATE, (pos + len(x)) / RATE))
            pos += len(x) + round(0.08 * RATE)
        out.append(np.zeros(round(0.6 * RATE)))
        pos += round(0.6 * RATE)
    return np.concatenate(out), spans[0], spans[1]


def music(seconds: float, *, seed: int = 1, bpm: float = 112.0) -> np.ndarray:
    """Pop-like music without a voice: sustained chords, a bass line, kick, snare and hi-hat (float, peak ~0.5)."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    beat = 60.0 / bpm
    out = np.zeros(n)
    roots = [57, 53, 48, 55]  # A minor, F, C, G: one chord a bar
    bar = 4 * beat
    for b in range(int(seconds / bar) + 1):
        a, z = round(b * bar * RATE), min(n, round((b + 1) * bar * RATE))
        if a >= n:
            break
        tt = t[a:z] - b * bar
        root = roots[b % len(roots)]
        minor = root in (57,)
        for step in (0, 3 if minor else 4, 7, 12):
            f = 440.0 * 2 ** ((root + step - 69) / 12)
            out[a:z] += 0.05 * (np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt)) * np.exp(-tt / 3)
        for k in range(8):  # eighth-note bass, a square-ish wave two octaves down
            s, e = a + round(k * beat / 2 * RATE), min(z, a + round((k + 1) * beat / 2 * RATE))
            if s >= e:
                break
            f = 440.0 * 2 ** ((root - 24 - 69) / 12)
            u = t[s:e] - t[s]
            out[s:e] += 0.12 * np.tanh(3 * np.sin(2 * np.pi * f * u)) * np.exp(-u / 0.25)
    for k in range(int(seconds / beat * 2)):  # drums on the eighth-note grid
        s = round(k * beat / 2 * RATE)
        if s >= n:
            break
        u = t[s : min(n, s + RATE // 4)] - t[s]
        if k % 4 == 0:  # kick: a falling sine
            out[s : s + len(u)] += 0.35 * np.sin(2 * np.pi * (50 + 100 * np.exp(-u / 0.03)) * u) * np.exp(-u / 0.12)
        if k % 4 == 2:  # snare: noise and a tone
            out[s : s + len(u)] += (0.2 * rng.standard_normal(len(u)) + 0.1 * np.sin(2 * np.pi * 190 * u)) * np.exp(
                -u / 0.06
            )
        hat = rng.standard_normal(len(u))
        out[s : s + len(u)] += 0.06 * np.diff(hat, prepend=0.0) * np.exp(-u / 0.02)
    return out / np.max(np.abs(out)) * 0.5


def mix(voice: np.ndarray, background: np.ndarray, *, under_db: float) -> np.ndarray:
    """`background` scaled to `under_db` dB under the voice's RMS (over its voiced part), added to it."""
    voiced = voice[np.abs(voice) > 1e-3]
    gain = float(np.sqrt(np.mean(voiced**2))) * 10 ** (-under_db / 20) / float(np.sqrt(np.mean(background**2)))
    return voice + gain * background[: len(voice)]


def to_pcm(x: np.ndarray, *, noise_db: float = -64.0, seed: int = 13) -> np.ndarray:
    """Float samples to int16 with a little Gaussian noise, so silences are not digital zero."""
    noise = np.random.default_rng(seed).standard_normal(len(x)) * 10 ** (noise_db / 20)
    return np.clip(np.round((x + noise) * 32767), -32768, 32767).astype(np.int16)


def truth(spans: Sequence[Span], seconds: float, step: float = 0.01) -> np.ndarray:
    """A boolean grid of `step` s: True where a frame's middle lies inside one of `spans`."""
    grid = np.zeros(int(seconds / step), dtype=bool)
    for a, b in spans:
        grid[int(np.ceil(a / step - 0.5)) : int(np.ceil(b / step - 0.5))] = True
    return grid
