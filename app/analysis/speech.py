"""Voice activity on 16 kHz mono PCM (WebRTC VAD, 30 ms frames): speech per second and the pauses."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import webrtcvad

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 480  # 30 ms, one of the three frame lengths the VAD accepts
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE


@dataclass(frozen=True)
class Pause:
    """A run without speech, in seconds of the source."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start


class SpeechDetector:
    """Feeds PCM chunks of any size through the VAD; keeps per-second counts and the pauses.

    A speech run shorter than `min_speech_frames` (a click, a breath) does not end a pause, so one
    30 ms false positive cannot split a real pause in two. Pauses shorter than `min_pause_seconds`
    (the gaps between words) are not kept.
    """

    def __init__(self, *, aggressiveness: int = 2, min_pause_seconds: float = 0.2, min_speech_frames: int = 3) -> None:
        self.aggressiveness = aggressiveness
        self.min_pause_seconds = min_pause_seconds
        self.min_speech_frames = min_speech_frames
        self._vad = webrtcvad.Vad(aggressiveness)
        self._pos = 0  # samples of the source consumed into whole frames
        self._rest = np.zeros(0, dtype=np.int16)
        self._counts: dict[int, list[int]] = {}  # second -> [speech frames, frames]
        self._pauses: list[Pause] = []
        self._silence_start: float | None = None
        self._speech_run = 0
        self._speech_run_start = 0.0

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_vad"]  # a C object; its adaptive state is worth little and rebuilds in a second
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._vad = webrtcvad.Vad(self.aggressiveness)

    @property
    def end(self) -> float:
        """Time of the last sample analysed, in seconds."""
        return self._pos / SAMPLE_RATE

    @property
    def pauses(self) -> tuple[Pause, ...]:
        """Pauses found so far (call `finish` first for one still open at the end)."""
        return tuple(self._pauses)

    def per_second(self) -> dict[int, float]:
        """Fraction of each analysed second's 30 ms frames that held speech."""
        return {s: speech / total for s, (speech, total) in self._counts.items()}

    def add(self, pcm: np.ndarray, t: float | None = None) -> None:
        """Feed int16 mono samples; `t` (seconds) says where they start when it is not right after the last."""
        if t is not None and abs(round(t * SAMPLE_RATE) - (self._pos + len(self._rest))) > FRAME_SAMPLES:
            self.finish()
            self._pos, self._rest = round(t * SAMPLE_RATE), np.zeros(0, dtype=np.int16)
        samples = np.concatenate([self._rest, np.asarray(pcm, dtype=np.int16).ravel()])
        whole = len(samples) // FRAME_SAMPLES * FRAME_SAMPLES
        for offset in range(0, whole, FRAME_SAMPLES):
            frame = samples[offset : offset + FRAME_SAMPLES]
            self._frame(self._vad.is_speech(frame.tobytes(), SAMPLE_RATE))
        self._rest = samples[whole:].copy()

    def finish(self) -> None:
        """Close the pause still open at the end of the input (or of a decoded range)."""
        if self._silence_start is not None:
            self._keep_pause(self._silence_start, self.end)
        self._silence_start = None
        self._speech_run = 0

    def _frame(self, is_speech: bool) -> None:
        t = self._pos / SAMPLE_RATE
        counts = self._counts.setdefault(math.floor(t + FRAME_SECONDS / 2), [0, 0])
        counts[0] += is_speech
        counts[1] += 1
        self._pos += FRAME_SAMPLES
        if not is_speech:
            self._speech_run = 0
            if self._silence_start is None:
                self._silence_start = t
            return
        if self._speech_run == 0:
            self._speech_run_start = t
        self._speech_run += 1
        if self._speech_run >= self.min_speech_frames and self._silence_start is not None:
            self._keep_pause(self._silence_start, self._speech_run_start)
            self._silence_start = None

    def _keep_pause(self, start: float, end: float) -> None:
        if end - start >= self.min_pause_seconds:
            self._pauses.append(Pause(start, end))
