"""The render command: one encode with colour, gain, guard and fades inside it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from app.domain.crop import CropKey
from app.domain.spec import OutputOptions
from app.media.probe import MediaInfo, VideoStream
from app.stages.analyze import Plan, Segment
from app.stages.colour import colour_filter, source_colorimetry
from app.stages.framing import CropSize
from app.stages.render import ClipSound, gain_db, join_chain, needs_limiter, segment_args
from app.stages.smart_args import coded_like
from app.stages.validate import SourceInfo

BT709 = ("bt709", "bt709", "bt709")


def source(**kw: object) -> SourceInfo:
    values: dict[str, object] = dict(
        path="/m/s.mp4",
        size=1,
        sha256="0",
        duration=100.0,
        width=1920,
        height=1080,
        frame_rate="30/1",
        codec="h264",
        pix_fmt="yuv420p",
        color_primaries="bt709",
        color_transfer="bt709",
        color_space="bt709",
        color_range="tv",
        has_audio=True,
        audio_channels=2,
        media=MediaInfo("mov,mp4", 100.0, 1, VideoStream("h264", 1920, 1080, "30/1", "yuv420p", *BT709, "tv"), None),
    )
    values.update(kw)
    return SourceInfo(**values)  # type: ignore[arg-type]


def segment(**kw: object) -> Segment:
    values: dict[str, object] = dict(
        index=0, start=10.0, frames=600, duration=20.0, score=0.5, transition="fade", loudness=-30.0, true_peak=-20.0
    )
    values.update(kw)
    return Segment(**values)  # type: ignore[arg-type]


PLAN = Plan(segments=[], framing=None, frame_rate="30/1", auto_selected=False)


def graph(args: list[str]) -> str:
    return args[args.index("-filter_complex") + 1]


def test_bt709_source_is_only_tagged_not_converted() -> None:
    assert colour_filter(source()) == ""
    args = segment_args(source(), PLAN, segment(), OutputOptions(), Path("o.mov"), has_audio=True)
    assert "zscale" not in graph(args)
    assert args[args.index("-colorspace") + 1] == "bt709"


def test_bt601_source_is_converted_with_zscale() -> None:
    sd = source(width=720, height=480, color_primaries="smpte170m", color_transfer="smpte170m", color_space="smpte170m")
    f = colour_filter(sd)
    assert "zscale=matrixin=smpte170m:primariesin=smpte170m" in f and "matrix=bt709" in f


def test_untagged_sd_is_assumed_bt601_and_untagged_hd_bt709() -> None:
    untagged = dict(color_primaries=None, color_transfer=None, color_space=None, color_range=None)
    assert source_colorimetry(source(width=640, height=480, **untagged)).matrix == "smpte170m"
    assert source_colorimetry(source(width=720, height=576, **untagged)).matrix == "bt470bg"
    assert source_colorimetry(source(**untagged)).is_bt709_limited


def test_full_range_source_is_brought_to_limited_range() -> None:
    assert "rangein=full" in colour_filter(source(pix_fmt="yuvj420p"))


def test_seek_is_before_the_input_for_accurate_fast_seeking() -> None:
    args = segment_args(source(), PLAN, segment(), OutputOptions(), Path("o.mov"), has_audio=True)
    assert args.index("-ss") < args.index("-i")
    assert args[args.index("-frames:v") + 1] == "600"


def test_gain_brings_the_clip_to_minus_16() -> None:
    assert gain_db(segment(loudness=-30.0)) == pytest.approx(14.0)
    assert gain_db(segment(loudness=-10.0)) == pytest.approx(-6.0)


def test_no_ceiling_holds_a_quiet_clip_back() -> None:
    assert gain_db(segment(loudness=-58.0)) == pytest.approx(42.0)
    assert gain_db(segment(loudness=-5.0)) == pytest.approx(-11.0)


def test_silence_and_room_tone_get_no_gain() -> None:
    assert gain_db(segment(loudness=-70.0)) == 0.0
    assert gain_db(segment(loudness=-62.0)) == 0.0
    assert gain_db(segment(loudness=None)) == 0.0


def test_the_join_adjusts_only_what_it_is_asked_to() -> None:
    assert join_chain(ClipSound()) == "anull"
    assert "volume=3.500dB" in join_chain(ClipSound(gain_db=3.5))
    assert "alimiter" in join_chain(ClipSound(gain_db=3.5, limit=True))


def test_limiter_only_when_gain_would_break_the_true_peak_ceiling() -> None:
    assert not needs_limiter(segment(loudness=-30.0, true_peak=-20.0))
    assert needs_limiter(segment(loudness=-30.0, true_peak=-10.0))
    args = segment_args(
        source(), PLAN, segment(loudness=-30.0, true_peak=-10.0), OutputOptions(), Path("o.mov"), has_audio=True
    )
    assert "alimiter" in graph(args)


def test_audio_is_trimmed_to_the_video_length_in_samples() -> None:
    args = segment_args(source(), PLAN, segment(), OutputOptions(), Path("o.mov"), has_audio=True)
    assert "atrim=end_sample=960000" in graph(args)


def test_cut_transition_has_no_fades() -> None:
    args = segment_args(source(), PLAN, segment(transition="cut"), OutputOptions(), Path("o.mov"), has_audio=True)
    assert "fade" not in graph(args)


def test_silent_source_gets_a_silent_track() -> None:
    args = segment_args(
        source(has_audio=False), PLAN, segment(loudness=None), OutputOptions(), Path("o.mov"), has_audio=False
    )
    assert "anullsrc" in " ".join(args) and "volume" not in graph(args)


def test_crf_and_preset_reach_the_encoder() -> None:
    args = segment_args(
        source(), PLAN, segment(), OutputOptions(crf=23, preset="veryfast"), Path("o.mov"), has_audio=True
    )
    assert args[args.index("-crf") + 1] == "23" and args[args.index("-preset") + 1] == "veryfast"


def test_a_crop_path_and_the_reel_size_go_into_the_one_encode() -> None:
    plan = PLAN.model_copy(update={"framing": CropSize(width=606, height=1080, output_width=1080, output_height=1924)})
    path = [CropKey(t=10.0, x=600, y=0), CropKey(t=14.0, x=700, y=0)]
    args = segment_args(source(), plan, segment(crop=path), OutputOptions(), Path("o.mov"), has_audio=True)
    chain = graph(args)
    assert "crop=606:1080:'600+25.0000*clip(t-(0.0000),0,4.0000)':'0'" in chain
    assert chain.index("crop=") < chain.index("scale=1080:1924:flags=lanczos,setsar=1") < chain.index("fade=")


SD = dict(width=640, height=360, color_primaries="smpte170m", color_transfer="smpte170m", color_space="smpte170m")


@pytest.mark.parametrize(
    ("framing", "converted_before_scale"),
    [
        (CropSize(width=202, height=360, output_width=720, output_height=1280), True),  # a vertical crop made bigger
        (CropSize(width=640, height=360, output_width=320, output_height=180), False),  # the whole picture made smaller
        (CropSize(width=202, height=360, output_width=720, output_height=1280, half_width=202, half_height=180), True),
        (CropSize(width=202, height=360, output_width=180, output_height=320, half_width=202, half_height=180), False),
    ],
)
def test_colour_is_converted_on_the_side_of_the_scale_with_fewer_pixels(
    framing: CropSize, converted_before_scale: bool
) -> None:
    plan = PLAN.model_copy(update={"framing": framing})
    split = {"layout": "split", "crop_bottom": [CropKey(t=10.0, x=0, y=180)]} if framing.half_width else {}
    clip = segment(crop=[CropKey(t=10.0, x=0, y=0)], **split)
    chain = graph(segment_args(source(**SD), plan, clip, OutputOptions(), Path("o.mov"), has_audio=True))
    scales = [m.start() for m in re.finditer(r"(?<!z)scale=", chain)]
    conversions = [m.start() for m in re.finditer(r"zscale=", chain)]
    assert len(conversions) == (2 if split and converted_before_scale else 1)  # each half, or the whole, once
    assert len(scales) == (2 if split else 1)
    assert all((z < s) == converted_before_scale for z, s in zip(conversions, scales, strict=False))
    assert chain.index("crop=") < min(conversions) and max(conversions) < chain.index("fade=")


def test_a_clip_encoded_whole_beside_copied_gops_is_coded_like_them() -> None:
    from tests.unit.test_smart_rules import FACTS  # which imports this module's `source`

    coding = coded_like(replace(FACTS, profile="Main", level=30))
    args = segment_args(source(), PLAN, segment(), OutputOptions(), Path("o.mov"), has_audio=True, coding=coding)
    at = args.index("-profile:v")
    assert args[at : at + 4] == ["-profile:v", "main", "-level:v", "3.0"]
    assert args.index("libx264") < at < args.index("o.mov")
    plain = segment_args(source(), PLAN, segment(), OutputOptions(), Path("o.mov"), has_audio=True)
    assert "-profile:v" not in plain  # a reel with no copied GOP keeps libx264's own choice
