"""Automatic edges on talk with known word boundaries, through the real analysers (VAD and level)."""

from __future__ import annotations

import numpy as np

from app.analysis.edges import EDGE_IN_SPEECH
from app.analysis.features import SourceAnalyser, SourceFeatures
from app.analysis.picker import propose_highlights
from tests.support import speech as material

SECONDS = 75.0


def analysed(x: np.ndarray) -> SourceFeatures:
    analyser = SourceAnalyser()
    pcm = material.to_pcm(x)
    for offset in range(0, len(pcm), 8000):
        analyser.add_audio(pcm[offset : offset + 8000])
    return SourceFeatures.from_json(analyser.result().to_json())  # as the checkpoint gives them back


def inside_a_word(t: float, words: list[material.Span], slack: float = 0.01) -> bool:
    return any(a + slack < t < b - slack for a, b in words)


def test_no_automatic_edge_falls_inside_a_word_of_talk_with_pauses() -> None:
    talk, words, _ = material.talk(SECONDS, seed=7)
    features = analysed(talk)
    picks = propose_highlights(features, max_duration=60.0, candidates=4).candidates
    assert picks
    for pick in picks:
        assert not inside_a_word(pick.start, words) and not inside_a_word(pick.end, words), pick
        assert EDGE_IN_SPEECH not in pick.reasons


def test_every_edge_in_talk_without_pauses_is_reported_and_sits_between_words() -> None:
    talk, words, _ = material.talk(SECONDS, seed=8, word_gap=(0.05, 0.09), sentence_gap=None)
    features = analysed(talk)
    assert not [p for p in features.pauses if words[0][0] < p.start < words[-1][1]]  # nothing to snap to
    picks = propose_highlights(features, max_duration=60.0, candidates=4).candidates
    assert picks
    for pick in picks:
        in_talk = [t for t in (pick.start, pick.end) if words[0][1] < t < words[-1][0]]
        if in_talk:
            assert EDGE_IN_SPEECH in pick.reasons, pick
        # The quietest 100 ms in reach is a gap between words: honest, and still not mid-word.
        assert not any(inside_a_word(t, words, slack=0.03) for t in in_talk), pick
