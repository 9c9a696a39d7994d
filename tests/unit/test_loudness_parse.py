"""Reading ebur128's summaries: the last of each named instance wins."""

from __future__ import annotations

import pytest

from app.media.loudness import Loudness, _parse_summaries

STDERR = """
[m1 @ 0x1] Summary:
  Integrated loudness:
    I:         -70.0 LUFS
  True peak:
    Peak:       -inf dBFS
[m0 @ 0x2] Summary:
  Integrated loudness:
    I:         -70.0 LUFS
  True peak:
    Peak:       -inf dBFS
[m1 @ 0x3] Summary:
  Integrated loudness:
    I:         -37.2 LUFS
  True peak:
    Peak:      -27.1 dBFS
[m0 @ 0x4] Summary:
  Integrated loudness:
    I:         -31.1 LUFS
  True peak:
    Peak:      -21.9 dBFS
"""


def test_summaries_map_to_their_ranges_in_order() -> None:
    assert _parse_summaries(STDERR, [True, True]) == [Loudness(-31.1, -21.9), Loudness(-37.2, -27.1)]


def test_a_missing_summary_is_an_error_not_a_silent_zero() -> None:
    with pytest.raises(ValueError, match=r"\[2\]"):
        _parse_summaries(STDERR, [True, True, True])


def test_silence_is_recognised() -> None:
    assert Loudness(-70.0, -200.0).silent
    assert not Loudness(-40.0, -30.0).silent


def test_room_tone_under_minus_60_lufs_counts_as_silence_and_speech_above_it_does_not() -> None:
    assert Loudness(-60.5, -40.0).silent
    assert not Loudness(-59.5, -40.0).silent


def test_a_range_metered_without_its_true_peak_has_none_and_one_that_asked_for_it_must_have_it() -> None:
    stderr = """
[m0 @ 0x1] Summary:
  Integrated loudness:
    I:         -23.4 LUFS
  Loudness range:
    LRA high:  -21.0 LUFS
[m1 @ 0x2] Summary:
  Integrated loudness:
    I:         -19.0 LUFS
"""
    assert _parse_summaries(stderr, [False, False]) == [Loudness(-23.4, None), Loudness(-19.0, None)]
    with pytest.raises(ValueError, match=r"\[1\]"):
        _parse_summaries(stderr, [False, True])
