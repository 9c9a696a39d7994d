"""A source whose every word is known (talk from `speech.talk` under a test picture), and a provider's ear for it.

The ear is what the fake provider hears with: it finds where the sound it is sent lies in the talk (by
cross-correlation, as the sound comes back through AAC and the service's own extraction) and writes down the
words there with their true timings, relative to what it was sent, as a real speech-to-text service would.
Where sentences end (the full stops) is the test's choice, so a transcript can disagree with the pauses.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.support import speech
from tests.support.media import AAC, ffmpeg
from tests.support.openai_server import HeardWord

Span = speech.Span
FullStop = Callable[[int, Span], bool]  # (a word's index, the range heard in source seconds) → a sentence ends there


@dataclass(frozen=True)
class Talk:
    """The talk in a source: its samples at `speech.RATE` (as written), and each word's span in source seconds."""

    samples: np.ndarray
    words: list[Span]

    def name(self, index: int) -> str:
        """What word `index` says."""
        return speech.WORDS[index % len(speech.WORDS)][0]


def spoken(seconds: float, *, seed: int) -> Talk:
    """`speech.talk` of `seconds`: sentences of 5–9 words, with pauses between them (the same for the same seed)."""
    samples, words, _ = speech.talk(seconds, seed=seed)
    return Talk(samples, words)


def talk_source(path: Path, talk: Talk, *, size: str = "320x180") -> Path:
    """An H.264 + AAC source of `talk` under testsrc2 (one shot, always moving)."""
    seconds = len(talk.samples) / speech.RATE
    raw = path.with_suffix(".s16")
    raw.write_bytes(speech.to_pcm(talk.samples).tobytes())
    try:
        ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}",
            "-f", "s16le", "-ar", str(speech.RATE), "-ac", "1", "-i", str(raw),
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23",
            "-pix_fmt", "yuv420p", *AAC, "-b:a", "128k", "-ar", "48000", "-t", str(seconds), str(path),
        )  # fmt: skip
    finally:
        raw.unlink()
    return path


@dataclass
class TalkEar:
    """A `Listening` for the fake provider: the words of `talk` wholly inside what it is sent, full stops by `stops`.

    `heard` collects each range it was sent, located in the talk (source seconds), in the order heard.
    """

    talk: Talk
    stops: FullStop
    heard: list[Span] = field(default_factory=list)
    _correlate: Callable[..., np.ndarray] = field(init=False, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # Imported when a test makes its ear: at collection it cost every xdist worker 0.8 s, and in the first
        # answer it would count against the service's AI_TIMEOUT_SECONDS (a job fell back on a loaded machine).
        from scipy.signal import correlate

        self._correlate = correlate

    def __call__(self, pcm: np.ndarray) -> list[HeardWord]:
        """The words in `pcm` (16 kHz), timed from its first sample."""
        padded = np.concatenate([self.talk.samples, np.zeros(len(pcm))])  # a range may run past the talk's end
        lags = self._correlate(padded, pcm, mode="valid", method="fft")
        offset = int(np.argmax(lags)) / speech.RATE
        span = (offset, offset + len(pcm) / speech.RATE)
        with self.lock:
            self.heard.append(span)
        return [
            (self.talk.name(k) + ("." if self.stops(k, span) else ""), round(a - offset, 3), round(b - offset, 3))
            for k, (a, b) in enumerate(self.talk.words)
            if span[0] <= a and b <= span[1]
        ]
