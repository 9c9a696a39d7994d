"""`python -m bench.smart`: smart render against the one-encode path, same clips, same run, two GOP lengths.

For each source, the same five cut-transition highlights go through `SmartVideoEditor.process_job` twice,
`output.render` auto and encode, one after the other. Printed: the render stage's time of each and their
ratio, the share of frames copied, and what the smart reel is measured to be with ffmpeg/ffprobe/numpy
(not our code): frame count and per-frame timestamps, copied frames bit-exact (framemd5), SSIM against the
source, A/V offset at each joint. Then the reel is played in headless Chromium (bench/browser.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db.checkpoint import MemoryCheckpoints
from app.domain.result import JobResult
from app.domain.spec import Highlight, JobSpec, OutputOptions
from app.media.ffmpeg import Binaries, find_binaries
from app.service.wiring import make_editor
from bench import browser
from bench.report import table
from bench.smart_measure import ReelCheck, check_reel, idr_frames
from bench.source import CACHE_DIR, FPS, BenchSource, ensure_source, warm_page_cache

TARGETS = {250: 0.45, 60: 0.20}  # GOP frames -> the most the smart render may take of the encode's time


def main(argv: list[str] | None = None) -> int:
    """Run both renders on each source, measure the smart reels, print the tables, save last_smart_run.json."""
    args = _parse(argv)
    binaries = find_binaries(Settings().ffmpeg_path)
    sources = [(250, ensure_source(binaries, args.minutes)), (60, ensure_source(binaries, args.gop2_minutes, gop=60))]
    rows, checks = [], []
    record: dict[str, Any] = {}
    for gop, source in sources:
        warm_page_cache(source.path)
        work = CACHE_DIR / "smart" / f"gop{gop}"
        shutil.rmtree(work, ignore_errors=True)
        (encode, _), (smart, load) = _job(source, work / "encode", "encode"), _job(source, work / "auto", "auto")
        check = check_reel(binaries, Path(smart.output_path or ""), source, smart, load=load)
        ratio = smart.stage_seconds["render"] / encode.stage_seconds["render"]
        rows.append(_row(source, gop, encode, smart, ratio, check))
        checks.append((f"{source.path.name}", check))
        record[source.path.name] = {"encode": encode.model_dump(mode="json"), "smart": smart.model_dump(mode="json")}
        record[source.path.name] |= {"ratio": ratio, "check": check.__dict__, "target": TARGETS[gop]}
    print("\n" + table(_HEADERS, rows))
    print("\n" + table(_CHECK_HEADERS, [_check_row(name, c) for name, c in checks]))
    played = browser.play(
        *_joints(binaries, sources[0][1], Path(record[sources[0][1].path.name]["smart"]["output_path"]))
    )
    print("\nbrowser: " + played.summary())
    record["browser"] = played.__dict__
    record["load_after"] = os.getloadavg()
    out = CACHE_DIR / "last_smart_run.json"
    out.write_text(json.dumps(record, indent=2, default=str))
    print(f"\nwritten {out}")
    return 0


def _joints(binaries: Binaries, source: BenchSource, reel: Path) -> tuple[Path, BenchSource, Binaries, list[Any]]:
    """The reel, and the two kinds of joint of its clip 2: encoded after clip 1, and copied after its own head."""
    clip = source.clips[1]
    first, count = round(clip.start * FPS), clip.frames
    head = idr_frames(binaries, source.path, first, count)[0] - first
    start = source.clips[0].frames
    return reel, source, binaries, [(start, "clip 2, first frame"), (start + head, "clip 2, first copied frame")]


def _job(source: BenchSource, work: Path, render: str) -> tuple[JobResult, float]:
    work.mkdir(parents=True, exist_ok=True)
    editor = make_editor(Settings().model_copy(update={"temp_dir": work / "tmp"}))
    highlights = [
        Highlight(start_time=c.start, end_time=c.start + c.duration, score=0.9, transition="cut") for c in source.clips
    ]
    spec = JobSpec(input_path=str(source.path), highlights=highlights, output=OutputOptions(render=render))  # type: ignore[arg-type]
    load = os.getloadavg()[0]
    print(f"{source.path.name}: render {render} (load {load:.2f}) ...", flush=True)
    job = editor.process_job(
        uuid.uuid4().hex, source.path.resolve(), spec, (work / "reel.mp4").resolve(), checkpoints=MemoryCheckpoints()
    )
    result = asyncio.run(job)
    print(f"  render stage {result.stage_seconds['render']:.2f} s", flush=True)
    return result, load


# Verify's time apart: a smart reel's joints are decoded there (one GOP either side), an encoded reel has none.
_HEADERS = [
    "source",
    "GOP",
    "encode s",
    "smart s",
    "ratio",
    "target",
    "copied",
    "verify s enc/smart",
    "+verify ratio",
    "load",
]
_CHECK_HEADERS = ["smart reel", "frames", "timestamps", "copied bit-exact", "SSIM mean", "SSIM min", "A/V max ms"]


def _row(
    source: BenchSource, gop: int, encode: JobResult, smart: JobResult, ratio: float, check: ReelCheck
) -> list[Any]:
    frames = sum(round((s.end - s.start) * 30) for s in smart.segments)
    copied = sum(s.copied_frames for s in smart.segments) / frames
    met = "met" if ratio <= TARGETS[gop] else "MISSED"
    return [
        source.path.name,
        f"{gop} ({gop / 30:g} s)",
        f"{encode.stage_seconds['render']:.2f}",
        f"{smart.stage_seconds['render']:.2f}",
        f"{ratio:.3f}",
        f"<= {TARGETS[gop]} {met}",
        f"{copied:.1%}",
        f"{encode.stage_seconds['verify']:.2f} / {smart.stage_seconds['verify']:.2f}",
        f"{_with_verify(smart) / _with_verify(encode):.3f}",
        f"{check.load:.2f}",
    ]


def _with_verify(result: JobResult) -> float:
    return result.stage_seconds["render"] + result.stage_seconds["verify"]


def _check_row(name: str, c: ReelCheck) -> list[Any]:
    return [
        name,
        f"{c.frames}/{c.expected_frames}",
        "exact" if c.timestamps_exact else "OFF",
        f"{c.copied_identical}/{c.copied_compared}",
        f"{c.ssim_mean:.4f}",
        f"{c.ssim_min:.4f}",
        f"{c.av_offset_max_ms:.2f} (<= {c.audio_frame_ms:.1f})",
    ]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.smart", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="the GOP-250 source (default 10, the bench's)")
    parser.add_argument("--gop2-minutes", type=float, default=4.0, help="the 2-second-GOP source (default 4)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
