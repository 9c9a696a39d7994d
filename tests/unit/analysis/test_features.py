"""SourceAnalyser over frames only, audio only, both, with gaps; JSON and pickle round trips."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from app.analysis.features import SourceAnalyser, SourceFeatures
from app.analysis.speech import SAMPLE_RATE
from tests.unit.analysis.builders import jitter, texture

FPS = 10.0


def feed_frames(analyser: SourceAnalyser, start: float, seconds: float, seed: int, rng: np.random.Generator) -> None:
    base = texture(seed)
    for i in range(int(seconds * FPS)):
        analyser.add_frame(start + i / FPS, jitter(base, rng))


def noise_pcm(seconds: float, level: float, rng: np.random.Generator) -> np.ndarray:
    return (rng.normal(0, level, int(seconds * SAMPLE_RATE))).astype(np.int16)


def test_frames_only_give_video_features_and_no_audio() -> None:
    rng = np.random.default_rng(0)
    analyser = SourceAnalyser()
    feed_frames(analyser, 0.0, 3.0, 1, rng)
    feed_frames(analyser, 3.0, 3.0, 2, rng)
    result = analyser.result()
    assert result.duration == pytest.approx(6.0)
    assert result.frame_size == (320, 180) and not result.has_audio
    assert result.cuts == pytest.approx((3.0,))
    assert np.isnan(result.loudness).all() and np.isnan(result.speech).all()
    assert list(result.cut_density) == [0, 0, 0, 1, 0, 0]
    assert not np.isnan(result.motion).any()


def test_audio_only_gives_audio_features_and_no_video() -> None:
    rng = np.random.default_rng(1)
    analyser = SourceAnalyser()
    analyser.add_audio(noise_pcm(2.0, 300, rng))
    analyser.add_audio(noise_pcm(2.0, 3000, rng))
    result = analyser.result()
    assert not result.has_video and result.has_audio
    assert result.duration == pytest.approx(4.0)
    assert result.loudness[3] - result.loudness[0] == pytest.approx(20.0, abs=1.0)
    assert np.isnan(result.motion).all() and result.content is None


def test_gaps_between_ranges_are_nan_seconds_and_no_cut() -> None:
    rng = np.random.default_rng(2)
    analyser = SourceAnalyser()
    feed_frames(analyser, 0.0, 2.0, 1, rng)
    analyser.add_audio(noise_pcm(2.0, 1000, rng), t=0.0)
    feed_frames(analyser, 10.0, 2.0, 2, rng)
    analyser.add_audio(noise_pcm(2.0, 1000, rng), t=10.0)
    result = analyser.result()
    assert result.duration == pytest.approx(12.0)
    assert result.cuts == ()
    covered = [i for i in range(12) if not math.isnan(result.loudness[i])]
    assert covered == [0, 1, 10, 11]
    assert [i for i in range(12) if not math.isnan(result.motion[i])] == [0, 1, 10, 11]


def sample_features() -> SourceFeatures:
    rng = np.random.default_rng(3)
    analyser = SourceAnalyser()
    feed_frames(analyser, 0.0, 2.0, 1, rng)
    feed_frames(analyser, 2.0, 2.0, 2, rng)
    analyser.add_audio(noise_pcm(4.0, 800, rng))
    return analyser.result()


def test_features_round_trip_through_json() -> None:
    features = sample_features()
    again = SourceFeatures.from_json(features.to_json())
    assert again.to_json() == features.to_json()
    assert again.cuts == features.cuts and again.content == features.content
    np.testing.assert_allclose(again.loudness, features.loudness, atol=1e-3)


def test_analyser_pickled_mid_stream_resumes_to_the_same_video_result() -> None:
    rng = np.random.default_rng(4)
    frames = [jitter(texture(1 + (i >= 25)), rng) for i in range(50)]
    whole, first = SourceAnalyser(), SourceAnalyser()
    for i, frame in enumerate(frames):
        whole.add_frame(i / FPS, frame)
    for i, frame in enumerate(frames[:20]):
        first.add_frame(i / FPS, frame)
    resumed: SourceAnalyser = pickle.loads(pickle.dumps(first))
    for i, frame in enumerate(frames[20:], start=20):
        resumed.add_frame(i / FPS, frame)
    a, b = whole.result(), resumed.result()
    assert a.cuts == b.cuts == pytest.approx((2.5,))
    np.testing.assert_array_equal(a.motion, b.motion)


def test_ranges_less_than_a_second_apart_give_no_cut_and_no_motion_spike() -> None:
    rng = np.random.default_rng(4)
    analyser = SourceAnalyser()
    feed_frames(analyser, 0.0, 2.0, 1, rng)
    feed_frames(analyser, 2.5, 2.5, 2, rng)  # another picture 0.6 s after the last frame
    result = analyser.result()
    assert result.cuts == ()
    assert np.nanmax(result.motion) < 5, "the jump between the ranges is no motion"
    assert result.duration == pytest.approx(5.0)
