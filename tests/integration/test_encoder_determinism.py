"""A clip encoded again on a machine with fewer CPUs is the same clip: what a resume's byte-identical reel needs.

libx264 left to choose its threads takes 1.5 per CPU, and its output depends on that number; the render's
encoder arguments fix it. A process whose CPU affinity is one core sees a one-CPU machine.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app.domain.spec import OutputOptions
from app.media.ffmpeg import find_binaries
from app.stages.render import x264_args
from tests.support.media import make_source

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to compare with one")


def _framemd5(source: Path, encoder: list[str], cpus: set[int] | None) -> str:
    encode = [find_binaries().ffmpeg, "-v", "error", "-nostdin", "-i", str(source), *encoder, "-f", "h264", "-"]
    coded = subprocess.run(
        encode, capture_output=True, check=True, preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    ).stdout
    return subprocess.run(
        [find_binaries().ffmpeg, "-v", "error", "-f", "h264", "-i", "-", "-f", "md5", "-"],
        input=coded,
        capture_output=True,
        check=True,
    ).stdout.decode()


def test_the_reels_encoder_codes_the_same_frames_on_one_cpu_as_on_all(tmp_path: Path) -> None:
    source = make_source(tmp_path / "s.mp4", seconds=4, size="480x270", rate="30", levels_lufs=None)
    encoder = [*x264_args(OutputOptions()), "-an"]
    one = min(os.sched_getaffinity(0))
    assert _framemd5(source, encoder, {one}) == _framemd5(source, encoder, None)
    # Why it is fixed: with libx264 choosing, the two code different pictures (decoded, so not merely the SEI
    # in which x264 writes its options).
    auto = list(encoder)
    auto[auto.index("-threads") + 1] = "0"
    assert _framemd5(source, auto, {one}) != _framemd5(source, auto, None)
