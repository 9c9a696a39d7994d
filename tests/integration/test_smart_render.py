"""Smart render on generated H.264 sources: copied GOPs bit-exact, every joint decodable, fallbacks with a reason."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import pytest
from skimage.metrics import structural_similarity

from app.db.checkpoint import MemoryCheckpoints
from app.domain.result import JobResult
from app.domain.spec import Highlight, JobSpec, OutputOptions
from app.media.ffmpeg import Binaries, find_binaries
from app.pipeline.editor import SmartVideoEditor
from app.stages.joints import JOINT_REASON
from app.stages.transitions import FADE_SECONDS
from tests.support.frames import decode_errors, frame_hashes, frame_numbers, idr_frames, luma_frames
from tests.support.media import make_source

TAGS_709 = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")


def h264(gop: int, bframes: int, *extra: str) -> tuple[str, ...]:
    """libx264 as a camera or an export would write it: fixed GOP of closed IDR keyframes, BT.709 tags."""
    gops = ("-g", str(gop), "-bf", str(bframes))
    return ("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", *gops, *extra, *TAGS_709)


@pytest.fixture
def editor(tmp_path: Path) -> SmartVideoEditor:
    return SmartVideoEditor(binaries=find_binaries(), temp_dir=tmp_path / "tmp", max_source_seconds=3600)


async def run_job(
    editor: SmartVideoEditor, source: Path, highlights: Sequence[Highlight], output: OutputOptions | None = None
) -> tuple[JobResult, Path]:
    reel = source.with_name("reel.mp4")
    spec = JobSpec(input_path=source.name, highlights=list(highlights), output=output or OutputOptions())
    result = await editor.process_job("job", source, spec, reel, checkpoints=MemoryCheckpoints())
    return result, reel


def check_reel(
    result: JobResult, source: Path, reel: Path, rate: Fraction, size: tuple[int, int], fades: Sequence[bool]
) -> int:
    """Every claim of a smart reel, measured with ffmpeg/ffprobe and scikit-image; returns the frames copied."""
    assert decode_errors(reel) == ""
    clips = [(round(Fraction(s.start) * rate), round(Fraction(s.end - s.start) * rate)) for s in result.segments]
    numbers = frame_numbers(reel, rate)
    assert sorted(n for n in numbers if n is not None) == list(range(sum(n for _, n in clips)))  # no drop, no repeat
    assert len(numbers) == sum(n for _, n in clips)
    reel_md5, source_md5 = frame_hashes(reel), frame_hashes(source)
    reel_y, source_y = luma_frames(reel, *size), luma_frames(source, *size)
    idrs, at, copied = idr_frames(source, rate), 0, 0
    for segment, (first, count), faded in zip(result.segments, clips, fades, strict=True):
        fade = math.ceil(FADE_SECONDS * rate) if faded else 0
        if segment.render_mode == "smart":
            cuts = [k for k in idrs if first + fade <= k <= first + count - fade]
            head_end, tail_start = cuts[0], cuts[-1]
            assert segment.copied_frames == tail_start - head_end > 0
            # The copied GOPs decode to exactly the source's frames.
            assert reel_md5[at + head_end - first : at + tail_start - first] == source_md5[head_end:tail_start]
            joints = {0, head_end - first - 1, head_end - first, tail_start - first - 1, tail_start - first, count - 1}
            copied += segment.copied_frames
        else:
            joints = {0, count - 1}
        for j in sorted(j for j in joints if 0 <= j < count and (not fade or fade <= j < count - fade)):
            score = structural_similarity(reel_y[at + j], source_y[first + j], data_range=255)
            assert score >= 0.98, (segment.start, j, score)
        at += count
    assert result.verification.passed
    return copied


async def test_one_second_gops_with_b_frames_are_copied_bit_exact(editor: SmartVideoEditor, tmp_path: Path) -> None:
    source = make_source(tmp_path / "s.mp4", seconds=40, size="320x240", encoder=h264(25, 3, "-profile:v", "main"))
    highlights = [Highlight(start_time=1.3, end_time=17.1, transition="cut"), Highlight(start_time=20.5, end_time=36.2)]
    result, reel = await run_job(editor, source, highlights)
    assert [s.render_mode for s in result.segments] == ["smart", "smart"]
    copied = check_reel(result, source, reel, Fraction(25), (320, 240), [False, True])
    assert copied >= 0.8 * sum(round((s.end - s.start) * 25) for s in result.segments)


async def test_two_second_gops_without_b_frames_at_30_fps(editor: SmartVideoEditor, tmp_path: Path) -> None:
    source = make_source(tmp_path / "s.mp4", seconds=24, size="320x180", rate="30", encoder=h264(60, 0))
    result, reel = await run_job(editor, source, [Highlight(start_time=2.05, end_time=19.9, transition="cut")])
    assert [s.render_mode for s in result.segments] == ["smart"]
    assert check_reel(result, source, reel, Fraction(30), (320, 180), [False]) > 0


async def test_a_reel_mixes_copied_and_encoded_clips(editor: SmartVideoEditor, tmp_path: Path) -> None:
    # Keyframes every 10 s: the first clip holds a whole GOP, the second (fades inside) does not.
    encoder = h264(250, 1, "-sc_threshold", "0")
    source = make_source(tmp_path / "s.mp4", seconds=40, size="320x240", encoder=encoder)
    highlights = [Highlight(start_time=9, end_time=24, transition="cut"), Highlight(start_time=25, end_time=40)]
    result, reel = await run_job(editor, source, highlights)
    assert [s.render_mode for s in result.segments] == ["smart", "encode"]
    assert result.segments[1].render_reason and "no whole GOP" in result.segments[1].render_reason
    assert check_reel(result, source, reel, Fraction(25), (320, 240), [False, True]) == 250


def bt601(path: Path) -> Path:
    tags = ("-color_primaries", "smpte170m", "-color_trc", "smpte170m", "-colorspace", "smpte170m")
    return make_source(path, seconds=16, size="320x240", encoder=h264(25, 3)[: -len(TAGS_709)] + tags)


def hevc(path: Path) -> Path:
    return make_source(path, seconds=16, size="320x240", encoder=("-c:v", "libx265", "-preset", "ultrafast", *TAGS_709))


def ten_bit(path: Path) -> Path:
    return make_source(path, seconds=16, size="320x240", pix_fmt="yuv420p10le", encoder=h264(25, 3))


def variable_rate(path: Path) -> Path:
    # One frame in 7 dropped, the others kept at their times: a frame rate that changes, as a phone's does.
    jitter = ("-vf", "select='not(eq(mod(n,7),3))'", "-fps_mode", "vfr")
    return make_source(path, seconds=16, size="320x240", video_args=jitter, encoder=h264(25, 3))


@pytest.mark.parametrize(
    ("make", "reason"),
    [(bt601, "not BT.709"), (hevc, "not H.264"), (ten_bit, "not 8-bit 4:2:0"), (variable_rate, "variable frame rate")],
    ids=["bt601", "hevc", "10-bit", "vfr"],
)
async def test_ineligible_source_is_encoded_with_the_reason(
    editor: SmartVideoEditor, tmp_path: Path, make: object, reason: str
) -> None:
    assert callable(make)
    source = make(tmp_path / "s.mp4")
    result, reel = await run_job(editor, source, [Highlight(start_time=0, end_time=16, transition="cut")])
    [segment] = result.segments
    assert segment.render_mode == "encode" and segment.copied_frames == 0
    assert segment.render_reason is not None and reason in segment.render_reason, segment.render_reason
    assert decode_errors(reel) == "" and result.verification.passed


async def test_client_choices_force_an_encode(editor: SmartVideoEditor, tmp_path: Path) -> None:
    source = make_source(tmp_path / "s.mp4", seconds=16, size="320x240", encoder=h264(25, 3))
    for output, reason in [(OutputOptions(render="encode"), "render is encode"), (OutputOptions(crf=20), "crf")]:
        result, _ = await run_job(editor, source, [Highlight(start_time=0, end_time=16, transition="cut")], output)
        assert [s.render_mode for s in result.segments] == ["encode"]
        assert reason in (result.segments[0].render_reason or "")


def logging_ffprobe(tmp_path: Path) -> tuple[Binaries, Path]:
    """The real ffprobe behind a script that first writes its arguments, one file per call, into a folder."""
    calls, script = tmp_path / "ffprobe_calls", tmp_path / "ffprobe"
    calls.mkdir()
    real = find_binaries()
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "$(mktemp {calls}/call.XXXXXX)"\nexec {real.ffprobe} "$@"\n')
    script.chmod(0o755)
    return Binaries(real.ffmpeg, str(script)), calls


def stream_probes_of(calls: Path, source: Path) -> list[list[str]]:
    """The logged ffprobe calls that read `source` for anything but its packet index."""
    logged = [f.read_text().splitlines() for f in calls.iterdir()]
    return [argv for argv in logged if str(source) in argv and "packet=pts,dts,flags,pos,size" not in argv]


async def test_a_smart_job_probes_its_source_once(tmp_path: Path) -> None:
    binaries, calls = logging_ffprobe(tmp_path)
    editor = SmartVideoEditor(binaries=binaries, temp_dir=tmp_path / "tmp", max_source_seconds=3600)
    source = make_source(tmp_path / "s.mp4", seconds=16, size="320x240", encoder=h264(25, 3))
    result, _ = await run_job(editor, source, [Highlight(start_time=1.3, end_time=14.1, transition="cut")])
    assert [s.render_mode for s in result.segments] == ["smart"]
    # Validate's probe; smart render reads the coding from it and the source's packets, nothing else.
    assert len(stream_probes_of(calls, source)) == 1


async def test_a_validate_checkpoint_saved_without_the_coding_renders_the_same_reel(tmp_path: Path) -> None:
    binaries, calls = logging_ffprobe(tmp_path)
    editor = SmartVideoEditor(binaries=binaries, temp_dir=tmp_path / "tmp", max_source_seconds=3600)
    source = make_source(tmp_path / "s.mp4", seconds=16, size="320x240", encoder=h264(25, 3))
    spec = JobSpec(input_path=source.name, highlights=[Highlight(start_time=1.3, end_time=14.1, transition="cut")])
    fresh = MemoryCheckpoints()
    await editor.process_job("job", source, spec, tmp_path / "fresh.mp4", checkpoints=fresh)
    # As a worker before validate's probe kept the coding saved it: resumed after analyze.
    saved = {k: v for k, v in (await fresh.load("job")).items() if k in ("fetch", "validate", "analyze")}
    del saved["validate"]["media"]["coding"]
    older = MemoryCheckpoints()
    for stage, data in saved.items():
        await older.save_stage_data("job", stage, **data)
    for call in calls.iterdir():
        call.unlink()
    result = await editor.process_job("job", source, spec, tmp_path / "resumed.mp4", checkpoints=older)
    assert [s.render_mode for s in result.segments] == ["smart"]
    assert (tmp_path / "resumed.mp4").read_bytes() == (tmp_path / "fresh.mp4").read_bytes()
    assert len(stream_probes_of(calls, source)) == 1  # validate was skipped: smart render probed it


def damage_packet_at(source: Path, seconds: float) -> None:
    """Overwrite the middle of the video packet shown at `seconds` (its NAL headers kept), as a bad sector would."""
    [stream] = _probe_json(source, "-show_entries", "stream=time_base")["streams"]
    tb = Fraction(stream["time_base"])
    packets = _probe_json(source, "-show_entries", "packet=pts,pos,size")["packets"]
    [packet] = [p for p in packets if int(p["pts"]) * tb == Fraction(seconds).limit_denominator(1000)]
    pos, size = int(packet["pos"]), int(packet["size"])
    with source.open("r+b") as f:
        f.seek(pos + size // 3)
        f.write(bytes(range(7, 250, 3)) * 4)


def _probe_json(path: Path, *args: str) -> dict[str, list[dict[str, str]]]:
    argv = [find_binaries().ffprobe, "-v", "error", "-select_streams", "v:0", *args, "-of", "json", str(path)]
    result: dict[str, list[dict[str, str]]] = json.loads(subprocess.run(argv, capture_output=True, check=True).stdout)
    return result


async def test_a_copied_gop_that_does_not_decode_fails_over_to_an_encoded_clip(
    editor: SmartVideoEditor, tmp_path: Path
) -> None:
    source = make_source(tmp_path / "s.mp4", seconds=30, size="320x240", encoder=h264(25, 3))
    # The clip's first copied IDR (at 11 s) is damaged: every rule of the cut holds, the bitstream does not.
    damage_packet_at(source, 11.0)
    result, reel = await run_job(editor, source, [Highlight(start_time=10.3, end_time=27.1, transition="cut")])
    [segment] = result.segments
    assert segment.render_mode == "encode" and segment.copied_frames == 0
    assert segment.render_reason == JOINT_REASON
    assert decode_errors(reel) == "" and result.verification.passed


async def test_an_undamaged_source_keeps_its_copied_gops(editor: SmartVideoEditor, tmp_path: Path) -> None:
    # The same clip of the same source, undamaged: the joints decode, so nothing is encoded again.
    source = make_source(tmp_path / "s.mp4", seconds=30, size="320x240", encoder=h264(25, 3))
    result, reel = await run_job(editor, source, [Highlight(start_time=10.3, end_time=27.1, transition="cut")])
    assert [s.render_mode for s in result.segments] == ["smart"]
    assert result.segments[0].copied_frames == 400  # 11 s to 27 s
    assert decode_errors(reel) == ""
