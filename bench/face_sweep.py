"""`python -m bench.face_sweep`: CenterFace's score threshold x input area x geometry guard on the labelled set of
`bench.face_set`. The network runs once per picture and area down to a floor score; every threshold and the guard
are then applied to the kept cells, which gives exactly what `detect_faces` would return at that setting."""

from __future__ import annotations

import argparse
import pickle
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from app.analysis import face_detector as fd
from bench.face_set import Frame, labelled_set
from bench.faces import Tally, report, score
from bench.machine import load
from bench.source import CACHE_DIR

AREAS = {
    "448x252": 448 * 252, "512x288": 512 * 288, "576x324": 576 * 324, "640x360": 640 * 360,
    "768x432": 768 * 432, "864x486": 864 * 486,
}
THRESHOLDS = (0.12, 0.15, 0.2, 0.25, 0.3, 0.35, 0.5)
FLOOR = 0.1  # the lowest threshold swept, less a margin


@dataclass(frozen=True)
class Pass:
    """One picture through the network at one area: the cells above FLOOR, the scale, the CPU seconds spent."""

    cells: fd.Cells
    scale: float
    cpu: float


def passes(frames: Sequence[Frame], areas: Sequence[str]) -> dict[str, list[Pass]]:
    """The network over every frame at every area, one thread, timed in thread CPU time."""
    cv2.setNumThreads(1)
    out: dict[str, list[Pass]] = {}
    for name in areas:
        fd.forward(frames[0].picture, AREAS[name], FLOOR)  # load the model outside the timing
        runs = []
        for frame in frames:
            start = time.thread_time()
            cells, scale = fd.forward(frame.picture, AREAS[name], FLOOR)
            runs.append(Pass(cells, scale, time.thread_time() - start))
        out[name] = runs
        print(f"{name}: {1000 * np.mean([r.cpu for r in runs]):.1f} ms", flush=True)
    return out


def tallies(frames: Sequence[Frame], runs: Sequence[Pass | tuple[Pass, ...]], threshold: float,
            guard: bool) -> dict[str, Tally]:
    """Scores of one setting; a tuple of passes is a cascade: the next pass only when the one before found none."""
    out: dict[str, Tally] = defaultdict(Tally)
    for frame, run in zip(frames, runs, strict=True):
        chain = run if isinstance(run, tuple) else (run,)
        found: tuple[fd.Face, ...] = ()
        spent = 0.0
        for p in chain:
            spent += p.cpu
            found = fd.faces(p.cells, p.scale, threshold, guard)[: fd.MAX_FACES]
            if found:
                break
        tally = out[frame.bucket]
        if frame.picture.shape[:2] == (540, 960):
            tally.cpu.append(spent)
        score(frame, [(f.x, f.y, f.w, f.h) for f in found], tally)
    return dict(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-bucket", type=int, default=40)
    parser.add_argument("--no-face", type=int, default=200)
    parser.add_argument("--areas", nargs="*", choices=list(AREAS), default=list(AREAS))
    parser.add_argument("--reuse", action="store_true", help="score the passes of the last run again")
    args = parser.parse_args(argv)
    print(f"load before: {load()}")
    frames = list(labelled_set(per_bucket=args.per_bucket, no_face=args.no_face))
    buckets = list(dict.fromkeys(f.bucket for f in frames))
    cache = CACHE_DIR / f"face_sweep_{args.per_bucket}_{args.no_face}.pkl"
    if args.reuse and cache.exists():
        runs = pickle.loads(cache.read_bytes())
    else:
        runs = passes(frames, args.areas)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(runs))
    results: dict[str, dict[str, Tally]] = {}
    for name in args.areas:
        for guard in (False, True):
            for threshold in THRESHOLDS:
                label = f"{name} >={threshold:.2f}{' guard' if guard else ''}"
                results[label] = tallies(frames, runs[name], threshold, guard)
    if "448x252" in runs and "640x360" in runs:
        chain = [(a, b) for a, b in zip(runs["448x252"], runs["640x360"], strict=True)]
        for threshold in THRESHOLDS:
            results[f"448x252, 640x360 if none >={threshold:.2f} guard"] = tallies(frames, chain, threshold, True)
    print(report(results, buckets))
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
