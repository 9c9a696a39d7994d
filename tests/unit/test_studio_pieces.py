"""The pure parts behind the Studio API: the filmstrip's grid and tile times, and when a base's analysis is reused."""

from __future__ import annotations

import dataclasses

import numpy as np

from app.media.filmstrip import MAX_TILES, FilmstripLayout, layout_for, tile_times
from app.stages.choose import Needs, covers
from tests.unit.analysis.builders import features

EVERYTHING = Needs(audio=True, faces=True, framing=False)


def test_a_short_source_gets_a_tile_every_two_seconds_and_a_long_one_at_most_max_tiles() -> None:
    assert layout_for(90.0, 16 / 9) == FilmstripLayout(interval=2.0, tile=(160, 90), columns=10, count=45)
    hour = layout_for(3600.0, 16 / 9)
    assert hour.interval == 18.0 and hour.count == MAX_TILES
    assert layout_for(5.0, 9 / 16) == FilmstripLayout(interval=2.0, tile=(160, 284), columns=3, count=3)


def test_each_tile_shows_the_last_keyframe_at_or_before_its_time() -> None:
    layout = FilmstripLayout(interval=2.0, tile=(160, 90), columns=10, count=10)
    # Keyframes every 3 s, as ffmpeg's fps filter (round=up) was seen to sample them.
    assert tile_times([0.0, 3.0, 6.0, 9.0, 12.0, 15.0, 18.0], layout) == [0, 0, 3, 6, 6, 9, 12, 12, 15, 18]
    assert tile_times([0.0, 10.0], layout) == [0, 0, 0, 0, 0, 10, 10, 10, 10, 10]
    # Keyframes every second under tiles every 5 s: each tile its own time's keyframe, not a later one.
    every_second = FilmstripLayout(interval=5.0, tile=(160, 90), columns=4, count=4)
    assert tile_times([float(t) for t in range(20)], every_second) == [0, 5, 10, 15]
    assert tile_times([], layout) == []


def test_a_whole_source_analysis_covers_any_ranges_with_sound_and_faces() -> None:
    whole = features(60.0)
    assert covers(whole, None, EVERYTHING, 60.0)
    assert covers(whole, [(10.0, 40.0)], EVERYTHING, 60.0)


def test_an_analysis_of_some_ranges_covers_only_those() -> None:
    loudness = np.full(60, -30.0)
    loudness[30:] = np.nan  # the base decoded 0–30 s only
    part = dataclasses.replace(features(60.0), loudness=loudness, cut_density=np.where(np.isnan(loudness), np.nan, 0))
    assert covers(part, [(2.0, 20.0)], EVERYTHING, 60.0)
    assert not covers(part, [(2.0, 20.0), (35.0, 50.0)], EVERYTHING, 60.0)
    assert not covers(part, None, EVERYTHING, 60.0)


def test_framing_needs_faces_detected_as_often_as_framing_detects_them() -> None:
    ranked = features(60.0, face_interval=2.0)  # an automatic job at the source's aspect
    assert covers(ranked, [(10.0, 30.0)], Needs(audio=True, faces=True, framing=False), 60.0)
    assert not covers(ranked, [(10.0, 30.0)], Needs(audio=True, faces=True, framing=True), 60.0)
    assert covers(features(60.0, face_interval=1.0), [(10.0, 30.0)], Needs(audio=False, faces=True, framing=True), 60.0)


def test_an_analysis_without_sound_serves_a_job_that_needs_none() -> None:
    mute = features(60.0, has_audio=False)
    assert not covers(mute, None, EVERYTHING, 60.0)
    assert covers(mute, None, Needs(audio=False, faces=True, framing=False), 60.0)
