"""Smart render's rules: which sources and requests may be copied, and where a clip is cut."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from app.domain.spec import OutputOptions
from app.media.gops import Packet, _has_idr, parse_packets
from app.media.probe import StreamFacts
from app.stages.analyze import Plan
from app.stages.framing import CropSize
from app.stages.smart_args import mov_timescale, same_delay
from app.stages.smart_rules import Split, clean_cuts, frame_numbers, off_grid, source_refusal, split_clip
from app.stages.transitions import video_fades
from tests.unit.test_render_graph import source

FACTS = StreamFacts(
    codec="h264",
    profile="High",
    level=40,
    pix_fmt="yuv420p",
    bits=8,
    field_order="progressive",
    reorder_frames=2,
    length_prefixed=True,
    nal_length_size=4,
    time_base=Fraction(1, 15360),
    start_time=0.0,
    r_frame_rate=Fraction(30),
    avg_frame_rate=Fraction(30),
    rotation=0,
)
PLAN = Plan(segments=[], framing=None, frame_rate="30/1", auto_selected=False)


def test_an_h264_bt709_source_kept_as_it_is_may_be_copied() -> None:
    assert source_refusal(FACTS, source(), PLAN, OutputOptions()) is None
    # Untagged HD is BT.709 by the render's own rule, and so is copied.
    untagged = source(color_primaries=None, color_transfer=None, color_space=None, color_range=None)
    assert source_refusal(FACTS, untagged, PLAN, OutputOptions()) is None


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (OutputOptions(render="encode"), "render is encode"),
        (OutputOptions(crf=18), "explicit crf or preset"),
        (OutputOptions(preset="fast"), "explicit crf or preset"),
        (OutputOptions(aspect_ratio="9:16"), "crops"),
        (OutputOptions(resolution="720p"), "scales"),
    ],
)
def test_a_request_that_changes_the_picture_or_asks_for_quality_is_encoded(options: OutputOptions, reason: str) -> None:
    assert reason in (source_refusal(FACTS, source(), PLAN, options) or "")


def test_an_odd_sized_source_cropped_to_even_is_encoded() -> None:
    plan = PLAN.model_copy(update={"framing": CropSize(width=1918, height=1080, output_width=1918, output_height=1080)})
    assert "cropped" in (source_refusal(FACTS, source(width=1919), plan, OutputOptions()) or "")


@pytest.mark.parametrize(
    ("facts", "info", "reason"),
    [
        (None, {"codec": "hevc"}, "not H.264"),
        (replace(FACTS, codec="hevc"), {"codec": "hevc"}, "not H.264"),
        (replace(FACTS, profile="High 10", pix_fmt="yuv420p10le", bits=10), {}, "not 8-bit 4:2:0"),
        (replace(FACTS, pix_fmt="yuv422p"), {}, "not 8-bit 4:2:0"),
        (replace(FACTS, profile="Baseline"), {}, "Baseline profile"),
        (replace(FACTS, field_order="tt"), {}, "interlaced"),
        (replace(FACTS, rotation=90), {}, "rotated"),
        (FACTS, {"color_primaries": "smpte170m", "color_space": "smpte170m"}, "not BT.709"),
        (FACTS, {"height": 480, "color_primaries": None, "color_space": None}, "not BT.709"),  # untagged SD is 601
        (FACTS, {"color_range": "pc"}, "full range"),
        (replace(FACTS, length_prefixed=False), {}, "MP4/MOV"),
        (replace(FACTS, reorder_frames=3), {}, "B-frames 3 deep"),
    ],
)
def test_a_source_that_cannot_be_copied_says_why(
    facts: StreamFacts | None, info: dict[str, object], reason: str
) -> None:
    found = source_refusal(facts, source(**info), PLAN, OutputOptions())
    assert found is not None and reason in found, found


def test_frame_numbers_follow_the_grid_from_the_file_start() -> None:
    packets = [Packet(pts=p, dts=p, key=False, pos=0, size=1) for p in (512 * 3, 512 * 4, 512 * 5)]
    facts = replace(FACTS, time_base=Fraction(1, 15360), start_time=0.1)  # the file starts 3 frames in
    assert frame_numbers(packets, facts, Fraction(30)) == [0, 1, 2]
    off = [Packet(pts=512 * 3 + 100, dts=0, key=False, pos=0, size=1)]
    assert frame_numbers(off, facts, Fraction(30)) is None


def test_a_base_rate_other_than_the_average_is_no_reason_to_encode() -> None:
    # Cameras and screen recorders: every frame lasts 1/30 s, yet ffprobe's two rates differ. The packets decide.
    facts = replace(FACTS, avg_frame_rate=Fraction(2997, 100))
    assert source_refusal(facts, source(), PLAN, OutputOptions()) is None


def test_off_the_grid_says_whether_the_stream_starts_late_or_its_frames_vary() -> None:
    facts = replace(FACTS, time_base=Fraction(1, 15360), start_time=0.0)
    late = [Packet(pts=512 * n + 200, dts=0, key=False, pos=0, size=1) for n in range(5)]  # every frame 13 ms late
    assert frame_numbers(late, facts, Fraction(30)) is None
    assert "starts 0.0130 s off the file's frame grid" in off_grid(late, facts, Fraction(30))
    jitter = [Packet(pts=p, dts=0, key=False, pos=0, size=1) for p in (0, 512, 1100, 1536, 2048)]
    assert "frame durations vary" in off_grid(jitter, facts, Fraction(30))


def decode_order(frames: int, gop: int, bframes: int) -> tuple[list[int], list[bool]]:
    """Frame numbers in decode order of closed GOPs with B-frames (I/P first, then the Bs before it), IDR flags."""
    numbers: list[int] = []
    for start in range(0, frames, gop):
        shown = list(range(start, min(start + gop, frames)))
        numbers.append(shown[0])
        rest = shown[1:]
        while rest:
            group, rest = rest[: bframes + 1], rest[bframes + 1 :]
            numbers += [group[-1], *group[:-1]]
    return numbers, [n % gop == 0 for n in numbers]


def test_a_cut_clip_copies_from_the_first_to_the_last_idr_inside_it() -> None:
    numbers, idr = decode_order(300, 30, 2)
    assert split_clip(numbers, idr, 45, 200, 0) == Split(first=45, head_end=60, tail_start=240, end=245)
    assert split_clip(numbers, idr, 60, 180, 0) == Split(first=60, head_end=60, tail_start=240, end=240)  # no edges


def test_fades_stay_in_the_encoded_edges() -> None:
    numbers, idr = decode_order(300, 30, 2)
    # Keyframes at 60 and 240 lie inside the 15-frame fades of a clip [50, 250): the cuts move inward.
    assert split_clip(numbers, idr, 50, 200, 15) == Split(first=50, head_end=90, tail_start=210, end=250)


def test_a_clip_without_a_whole_gop_is_encoded() -> None:
    numbers, idr = decode_order(300, 100, 2)
    assert "no whole GOP" in str(split_clip(numbers, idr, 110, 120, 0))
    assert "no whole GOP" in str(split_clip(numbers, idr, 95, 120, 15))


def test_missing_frames_between_the_cuts_refuse_the_copy() -> None:
    numbers, idr = decode_order(300, 30, 0)
    gap = [n for n in numbers if n != 100]
    assert "not one per frame slot" in str(split_clip(gap, [n % 30 == 0 for n in gap], 0, 300, 0))


def test_an_idr_with_leading_pictures_is_not_a_cut() -> None:
    # Open-GOP style order: the keyframe at 30 is decoded before frames 28 and 29, which show before it.
    numbers = [0, 3, 1, 2, *range(4, 28), 30, 28, 29, *range(31, 90)]
    idr = [n in (0, 30, 60) for n in numbers]
    assert clean_cuts(numbers, idr) == [0, 60]


def test_packets_and_idr_slices_are_read_from_ffprobe_and_the_bytes() -> None:
    text = (
        "pts=1024,dts=0,size=10,pos=48,flags=K__\n"
        "pts=N/A,dts=N/A,size=0,pos=N/A,flags=___\n"
        "pts=512,dts=512,size=4,pos=N/A,flags=___\n"
    )
    assert parse_packets(text) == [
        Packet(pts=1024, dts=0, key=True, pos=48, size=10),
        Packet(pts=512, dts=512, key=False, pos=-1, size=4),
    ]
    sei, idr, non_idr = b"\x00\x00\x00\x02\x06\x05", b"\x00\x00\x00\x02\x65\x88", b"\x00\x00\x00\x02\x41\x9a"
    assert _has_idr(sei + idr, 4) and not _has_idr(sei + non_idr, 4)
    assert not _has_idr(b"\x00\x00\x00\x09\x65", 4)  # a length past the packet's end is not trusted


def test_every_part_shares_the_reels_time_scale_and_b_frame_delay() -> None:
    assert (mov_timescale("30/1"), mov_timescale("25/1"), mov_timescale("30000/1001")) == (15360, 12800, 30000)
    assert same_delay("30/1") == "setts=pts=PTS:dts=DTS-(1024-(STARTPTS-STARTDTS))"
    assert same_delay("30000/1001") == "setts=pts=PTS:dts=DTS-(2002-(STARTPTS-STARTDTS))"


def test_an_edge_gets_the_fades_that_fall_inside_it() -> None:
    assert video_fades("fade", 20.0) == ["fade=t=in:st=0:d=0.5", "fade=t=out:st=19.500000:d=0.5"]
    assert video_fades("fade", 20.0, offset=18.0) == ["fade=t=out:st=1.500000:d=0.5"]
    assert video_fades("cut", 20.0, offset=18.0) == []
