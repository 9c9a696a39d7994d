"""`python -m bench.pipeline`: time three ways of making the same reel, and check what each one delivers.

(a) a folder of ffmpeg scripts, (b) the floor (one ffmpeg process), (c) our pipeline in-process and via the
API. Prints the tables and the targets, writes bench/.cache/last_run.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.config import Settings
from app.media.ffmpeg import Binaries, find_binaries
from app.media.files import file_sha256
from bench import browser, report
from bench.approaches import Run, floor, scripted
from bench.machine import app_fingerprint, load, machine_info
from bench.measure import Quality, measure
from bench.ours import in_process, via_api
from bench.source import CACHE_DIR, FPS, BenchSource, ensure_source, warm_page_cache

APPROACHES = ("a", "b", "c", "c_api")


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the source, run the approaches, measure the outputs, print and save the tables."""
    args = _parse(argv)
    binaries = find_binaries(Settings().ffmpeg_path)
    machine = machine_info(binaries)
    print(" | ".join(f"{k}: {v}" for k, v in machine.items()), flush=True)
    source = ensure_source(binaries, 2.0 if args.quick else args.minutes)
    warm_page_cache(source.path)
    clips = ", ".join(f"{c.start:g}+{c.duration:g}s@{c.level_lufs:g}LUFS" for c in source.clips)
    print(f"source: {source.path.name}, {source.duration:g} s; clips {clips}", flush=True)
    work = CACHE_DIR / "run"
    shutil.rmtree(work, ignore_errors=True)
    runs = run_approaches(binaries, source, work, [k for k in APPROACHES if k in args.only])
    if app_fingerprint() != machine["app_sources"]:
        print("WARNING: app/ changed during the run; the approaches may have run different code", flush=True)
        machine["app_changed_during_run"] = True
    print(f"measuring {len(runs)} outputs (window: {args.window or 'whole clips'}, vmaf: {args.vmaf}) ...", flush=True)
    qualities = measure_all(binaries, runs, source, window=args.window, vmaf=args.vmaf)
    found = report.targets(runs, qualities, source)
    print_report(runs, qualities, found, source)
    if "c" in runs:
        # Just past clip 2's fade-in: a frame of picture, not of black, so the canvas can tell it from its neighbours.
        joint = round(source.clips[0].duration * FPS) + round(0.7 * FPS)
        played = browser.play(runs["c"].output, source, binaries, joints=[(joint, "clip 2, after its fade-in")])
        print("\nbrowser, reel (c): " + played.summary(), flush=True)
        machine["browser"] = played.summary()
    machine["load_after"] = load()
    out = CACHE_DIR / "last_run.json"
    report.write_json(out, report.record(machine, source, runs, qualities, found))
    print(f"\nwritten {out}")
    return 0


def run_approaches(binaries: Binaries, source: BenchSource, work: Path, keys: list[str]) -> dict[str, Run]:
    """Run the chosen approaches one after another (never two at once: they would share the CPU)."""
    steps: dict[str, Callable[[], Run]] = {
        "a": lambda: scripted(binaries, source, work / "a"),
        "b": lambda: floor(binaries, source, work / "b"),
        "c": lambda: in_process(source, work / "c")[0],
        "c_api": lambda: via_api(source, work / "c_api")[0],
    }
    runs: dict[str, Run] = {}
    for key in keys:
        print(f"running {key} (load {load()}) ...", flush=True)
        runs[key] = steps[key]()
        print(f"  {runs[key].label}: {runs[key].wall:.1f} s", flush=True)
    return runs


def measure_all(
    binaries: Binaries, runs: dict[str, Run], source: BenchSource, *, window: float | None, vmaf: bool
) -> dict[str, Quality]:
    """Measure every distinct output, two at a time (timing is over, so the two cores may be shared)."""
    digests = {k: file_sha256(r.output) for k, r in runs.items()}
    first = {d: k for k, d in reversed(digests.items())}  # byte-identical outputs are measured once
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            k: pool.submit(measure, binaries, runs[k].output, runs[k].clip_frames, source, window=window, vmaf=vmaf)
            for k in first.values()
        }
        measured = {k: f.result() for k, f in futures.items()}
    for key, digest in digests.items():
        if first[digest] != key:
            runs[key].extra["same_output_as"] = first[digest]
    return {k: measured[first[d]] for k, d in digests.items()}


def print_report(
    runs: dict[str, Run], qualities: dict[str, Quality], found: list[report.Target], source: BenchSource
) -> None:
    """All the tables, in reading order."""
    print("\n" + report.timing_table(runs, source))
    print("\n" + report.quality_table(runs, qualities))
    ours = [runs[k] for k in report.OURS if k in runs]
    if ours:
        print("\nstages of (c), from JobResult.stage_seconds:")
        print(report.steps_table(ours[0], ours[1] if len(ours) > 1 else None))
    if "c" in runs:
        print_render_breakdown(runs["c"])
    if "a" in runs:
        print("\nsteps of (a):")
        print(report.steps_table(runs["a"]))
    if "c_api" in runs:
        extra = runs["c_api"].extra
        startup, client = extra["service_startup_s"], extra["client_wall_s"]
        print(f"\nAPI: service startup {startup} s (not in the job time); client-observed job time {client} s")
    if found:
        print("\n" + report.targets_table(found, runs))


def print_render_breakdown(run: Run) -> None:
    """Where render's time went in the in-process run: each clip's encode, then the join."""
    clips = run.extra.get("clip_seconds")
    if not isinstance(clips, dict) or not clips:
        return
    encodes = sum(clips.values())
    each = " ".join(f"{v:.1f}" for v in clips.values())
    if run.extra.get("render_parallelism") == 1:
        rest = f"join, hash and the rest {run.steps.get('render', 0.0) - encodes:.1f} s"
    else:
        rest = f"clips ran {run.extra.get('render_parallelism')} at a time"
    print(f"render of (c): clip encodes {encodes:.1f} s ({each}); {rest}")
    print(f"Python CPU time of (c): {run.extra.get('python_cpu_s')} s of {run.wall:.1f} s wall")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=_minutes, default=10.0, help="source length (default 10, at least 2)")
    parser.add_argument("--quick", action="store_true", help="a 2-minute source (overrides --minutes)")
    parser.add_argument("--only", nargs="+", choices=APPROACHES, default=list(APPROACHES), help="approaches to run")
    parser.add_argument(
        "--window",
        type=float,
        default=None,
        help="compare only this many seconds from the middle of each clip (default: each whole clip minus 0.6 s edges)",
    )
    parser.add_argument("--vmaf", action=argparse.BooleanOptionalAction, default=True, help="VMAF (1 frame in 5)")
    return parser.parse_args(argv)


def _minutes(text: str) -> float:
    value = float(text)
    if value < 2:
        raise argparse.ArgumentTypeError("at least 2 minutes: five clips of 15 s or more must fit")
    return value


if __name__ == "__main__":
    sys.exit(main())
