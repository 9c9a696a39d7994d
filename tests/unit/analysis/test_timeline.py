"""What the analysis artefact draws, from features: the 0.1 s envelope, speech spans, normalised face boxes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.analysis.level import UNMEASURED, fine_code
from app.analysis.timeline import audio_spans, envelope, face_boxes, rounded, speech_spans
from app.analysis.tracks import FaceBox, FaceTrack
from tests.unit.analysis.builders import features


def fine(*runs: tuple[float | None, int]) -> bytes:
    """A 10 ms level series: `count` steps at each dB level (None: not measured)."""
    return b"".join(bytes([UNMEASURED if db is None else fine_code(db)]) * count for db, count in runs)


def test_the_envelope_is_the_power_mean_of_each_tenth_of_a_second() -> None:
    steady = envelope(fine((-20.0, 30)))
    assert steady == [-20.0, -20.0, -20.0]
    # Half a tenth at -10 dB and half at silence's floor: the mean power, 3 dB under the loud half.
    assert envelope(fine((-10.0, 5), (-100.0, 5))) == [pytest.approx(-13.0, abs=0.05)]


def test_the_envelope_is_null_where_no_audio_was_decoded_and_counts_a_partial_last_step() -> None:
    assert envelope(fine((-30.0, 10), (None, 10), (-30.0, 3))) == [-30.0, None, -30.0]
    assert envelope(b"") == []


def test_speech_is_the_decoded_audio_minus_its_pauses_without_clicks() -> None:
    heard = features(10.0, pauses=[(2.0, 3.0), (3.05, 6.0)])
    heard = dataclasses.replace(heard, fine_level=fine((-20.0, 800), (None, 100), (-20.0, 100)))
    assert audio_spans(heard.fine_level) == [(0.0, 8.0), (9.0, 10.0)]
    # 3.0–3.05 between two pauses is too short to be a word.
    assert speech_spans(heard) == [(0.0, 2.0), (6.0, 8.0), (9.0, 10.0)]


def test_face_boxes_are_normalised_to_the_picture_they_were_found_on() -> None:
    track = FaceTrack(3, (FaceBox(1.0, 32.0, 18.0, 64.0, 36.0),))
    found = dataclasses.replace(features(5.0), face_tracks=(track,), picture_size=(320, 180))
    assert face_boxes(found) == [(3, [(1.0, 0.1, 0.1, 0.2, 0.2)])]
    assert face_boxes(dataclasses.replace(found, picture_size=None)) == []


def test_grids_round_and_say_null_where_not_analysed() -> None:
    assert rounded(np.array([0.12345, np.nan, -3.0]), 2) == [0.12, None, -3.0]
