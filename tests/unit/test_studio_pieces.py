"""The pure parts behind the Studio API: the filmstrip's grid and tile times, when a base's analysis is reused,
what a browser plays, and the clips as the analysis shows them."""

from __future__ import annotations

import dataclasses

import numpy as np

from app.domain.crop import CropKey
from app.media.filmstrip import MAX_TILES, FilmstripLayout, layout_for, tile_times
from app.media.probe import AudioStream, MediaInfo, VideoStream
from app.stages.analyze import Plan, Segment
from app.stages.choose import Needs, covers
from app.stages.framing import CropSize
from app.stages.timeline import build_analysis, playable
from app.stages.validate import SourceInfo
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


def source(**kw: object) -> SourceInfo:
    video = VideoStream("h264", 1280, 720, "25/1", "yuv420p", "bt709", "bt709", "bt709", "tv")
    values: dict[str, object] = dict(
        path="/m/s.mp4", size=1, sha256="0", duration=60.0, width=1280, height=720, frame_rate="25/1",
        codec="h264", pix_fmt="yuv420p", color_primaries="bt709", color_transfer="bt709", color_space="bt709",
        color_range="tv", has_audio=True, audio_channels=2,
        media=MediaInfo("mov,mp4,m4a,3gp,3g2,mj2", 60.0, 1, video, AudioStream("aac", 2, 48000)),
    )  # fmt: skip
    values.update(kw)
    return SourceInfo(**values)  # type: ignore[arg-type]


def test_a_browser_plays_8_bit_h264_with_aac_or_no_audio_in_mp4_or_mov_only() -> None:
    plain = source()
    assert playable(plain)
    assert playable(source(has_audio=False, media=dataclasses.replace(plain.media, audio=None)))
    assert not playable(source(media=dataclasses.replace(plain.media, audio=AudioStream("pcm_s16le", 2, 48000))))
    assert not playable(source(media=dataclasses.replace(plain.media, format_name="matroska,webm")))
    assert not playable(source(codec="hevc"))
    assert not playable(source(pix_fmt="yuv422p10le"))


def test_the_analysis_shows_each_clip_with_its_crop_path_normalised_to_the_picture() -> None:
    crop = [CropKey(t=10.0, x=0, y=0, track=0, why="speaker"), CropKey(t=12.0, x=640, y=0)]
    clip = Segment(
        index=0, start=10.0, frames=500, duration=20.0, score=0.8, transition="fade", loudness=-20.0,
        true_peak=-3.0, reasons=["speech", "faces"], crop=crop,
    )  # fmt: skip
    framing = CropSize(width=405, height=720, output_width=1080, output_height=1920)
    plan = Plan(segments=[clip], framing=framing, frame_rate="25/1", auto_selected=False)
    analysis = build_analysis("job", source(), plan, features(60.0), None)
    [shown] = analysis.clips
    assert (shown.start, shown.end, shown.reasons, shown.layout) == (10.0, 30.0, ["speech", "faces"], "single")
    assert shown.crop == [(10.0, 0.0, 0.0, 0.3164, 1.0), (12.0, 0.5, 0.0, 0.3164, 1.0)]
    assert shown.crop_tracks == [0, None]  # the face each window frames, as the job's crop path says
    assert analysis.analysed and len(analysis.score) == 60 and analysis.filmstrip is None

    nothing = build_analysis("job", source(), plan.model_copy(update={"framing": None}), None, None)
    assert not nothing.analysed and nothing.score == [] and nothing.features.loudness == []
    assert nothing.clips[0].crop == [] and nothing.clips[0].crop_tracks == []
