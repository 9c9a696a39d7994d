"""Per-second audio level of 16 kHz PCM."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.analysis.level import SILENCE_DB, LevelMeter
from app.analysis.speech import SAMPLE_RATE


def tone(freq: float, amplitude: float, seconds: float, offset: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return np.round((amplitude * np.sin(2 * np.pi * freq * t) + offset) * 32767).astype(np.int16)


def levels(pcm: np.ndarray, chunk: int = 1000) -> dict[int, float]:
    meter = LevelMeter()
    for i in range(0, len(pcm), chunk):
        meter.add(pcm[i : i + chunk])
    return meter.per_second()


def test_a_sine_reads_as_its_mean_square_in_db() -> None:
    result = levels(tone(1000, 0.1, 3))
    want = 20 * math.log10(0.1 / math.sqrt(2))
    assert sorted(result) == [0, 1, 2]
    assert result[1] == pytest.approx(want, abs=0.3) and result[2] == pytest.approx(want, abs=0.3)


def test_louder_seconds_read_louder_by_their_gain() -> None:
    pcm = np.concatenate([tone(440, 0.05, 1), tone(440, 0.2, 1)])
    result = levels(pcm)
    assert result[1] - result[0] == pytest.approx(20 * math.log10(4), abs=0.5)


def test_dc_offset_and_rumble_are_filtered_out() -> None:
    speech_band = levels(tone(1000, 0.1, 2))[1]
    rumble = levels(tone(20, 0.1, 2))[1]
    dc = levels(np.full(2 * SAMPLE_RATE, 8000, dtype=np.int16))[1]
    assert rumble < speech_band - 10
    assert dc < -80


def test_digital_silence_is_the_floor() -> None:
    assert set(levels(np.zeros(SAMPLE_RATE * 2, dtype=np.int16)).values()) == {SILENCE_DB}


def test_chunk_size_does_not_change_the_result() -> None:
    pcm = np.concatenate([tone(300, 0.3, 1.3), tone(2000, 0.02, 1.1)])
    a, b = levels(pcm, 480), levels(pcm, 16000)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-6)


def test_a_later_range_lands_on_its_own_seconds() -> None:
    meter = LevelMeter()
    meter.add(tone(1000, 0.1, 1))
    meter.add(tone(1000, 0.1, 1), t=20.0)
    assert sorted(meter.per_second()) == [0, 20]
    assert meter.end == pytest.approx(21.0)


def test_fine_series_is_one_byte_per_10_ms_whatever_the_chunks_and_marks_gaps() -> None:
    from app.analysis.level import UNMEASURED, LevelMeter, fine_db

    rng = np.random.default_rng(4)
    loud = (rng.standard_normal(16000) * 3000).astype(np.int16)
    a, b = LevelMeter(), LevelMeter()
    a.add(loud)
    for offset in range(0, len(loud), 333):
        b.add(loud[offset : offset + 333])
    assert a.fine() == b.fine() and len(a.fine()) == 100
    a.add(np.zeros(1600, dtype=np.int16), t=3.0)  # a range further on: the steps between are unmeasured
    fine = np.frombuffer(a.fine(), dtype=np.uint8)
    assert len(fine) == 310 and set(fine[101:300]) == {UNMEASURED}
    assert np.nanmax(fine_db(fine[300:])) == -100.0  # digital silence at the floor (-127 is the code's own)
    assert abs(float(np.median(fine_db(fine[5:95]))) - 20 * np.log10(3000 / 32768)) < 1.5
