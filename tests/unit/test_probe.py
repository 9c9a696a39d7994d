"""ffprobe's JSON into MediaInfo: the coding a smart render needs, read once and kept in the validate checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

from app.media.probe import parse_probe
from app.stages.validate import SourceInfo
from tests.unit.test_render_graph import source
from tests.unit.test_smart_rules import FACTS

H264 = {
    "codec_type": "video",
    "codec_name": "h264",
    "profile": "High",
    "level": 40,
    "pix_fmt": "yuv420p",
    "bits_per_raw_sample": "8",
    "field_order": "progressive",
    "has_b_frames": 2,
    "is_avc": "true",
    "nal_length_size": "4",
    "time_base": "1/15360",
    "r_frame_rate": "30/1",
    "avg_frame_rate": "30/1",
    "width": 1920,
    "height": 1080,
}
COVER = {"codec_type": "video", "codec_name": "png", "disposition": {"attached_pic": 1}}


def test_the_coding_is_read_from_the_stream_a_copy_maps() -> None:
    fmt = {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "start_time": "0.000000", "duration": "100.0"}
    assert parse_probe({"format": fmt, "streams": [H264, COVER]}).coding == FACTS
    # `-map 0:v:0` takes a cover art stream listed first; the decode (`video`) skips it.
    info = parse_probe({"format": fmt, "streams": [COVER, H264]})
    assert info.video is not None and info.video.codec == "h264"
    assert info.coding is not None and info.coding.codec == "png"
    assert parse_probe({"format": fmt, "streams": []}).coding is None


def test_the_coding_survives_the_validate_checkpoint() -> None:
    info = source()
    info = info.model_copy(update={"media": replace(info.media, coding=FACTS)})
    saved = json.loads(json.dumps(info.model_dump()))
    assert SourceInfo.model_validate(saved) == info
    assert SourceInfo.model_validate(saved).media.coding == FACTS
    assert saved["media"]["coding"]["time_base"] == "1/15360"
    assert Fraction(saved["media"]["coding"]["r_frame_rate"]) == 30
    # A checkpoint saved before the probe kept the coding still loads, without it.
    del saved["media"]["coding"]
    assert SourceInfo.model_validate(saved).media.coding is None
