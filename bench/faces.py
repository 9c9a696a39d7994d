"""`python -m bench.faces` (or `make bench-faces`): today's Haar cascade against the learned face detectors on the
labelled set of `bench.face_set`: recall and precision per size and pose bucket, false faces per 100 no-face
frames, CPU ms per detection on 640x360 pictures."""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from app.analysis import face_detector
from bench import face_blaze, face_dnn, face_haar
from bench.face_set import Box, Frame, labelled_set
from bench.machine import load
from bench.report import table

Detector = Callable[[np.ndarray], Sequence[Box]]
MATCH_IOU = 0.3


def haar(picture: np.ndarray) -> list[Box]:
    """Today's analyser: the frontal alt2 cascade on the 320 px grey picture."""
    h, w = picture.shape[:2]
    grey = cv2.cvtColor(cv2.resize(picture, (320, round(h * 320 / w)), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2GRAY)
    k = w / 320
    return [(x * k, y * k, bw * k, bh * k) for x, y, bw, bh in face_haar.detect(grey)]


def centerface(area: int) -> Detector:
    return lambda p: [(f.x, f.y, f.w, f.h) for f in face_detector.detect_faces(p, area=area)]


def centerface_dnn(area: int) -> Detector:
    return lambda p: [(f.x, f.y, f.w, f.h) for f in face_dnn.detect(p, area=area)]


def blazeface(tiles: bool) -> Detector:
    return lambda p: [(f.x, f.y, f.w, f.h) for f in face_blaze.detect(p, tiles=tiles)[: face_detector.MAX_FACES]]


DETECTORS: dict[str, Detector] = {
    "Haar frontal alt2 (today)": haar,
    "CenterFace 448x252 >=0.5 (first)": lambda p: [
        (f.x, f.y, f.w, f.h) for f in face_detector.detect_faces(p, area=448 * 252, min_score=0.5)
    ],
    "CenterFace 448x252 >=0.2 guarded": centerface(448 * 252),
    "CenterFace 768x432 >=0.2 guarded (chosen)": centerface(768 * 432),
    # The two areas the analysis runs, on onnxruntime (above) and on OpenCV's dnn (before it): the same boxes.
    "CenterFace 448x252 >=0.2 guarded, cv2.dnn": centerface_dnn(448 * 252),
    "CenterFace 768x432 >=0.2 guarded, cv2.dnn": centerface_dnn(768 * 432),
    "BlazeFace full-range, whole": blazeface(False),
    "BlazeFace full-range, tiles": blazeface(True),
}


def iou(a: Box, b: Box) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def matches(truth: Box, found: Box) -> bool:
    """IoU >= 0.3, or the found box's centre inside the true one (a box drawn forehead-to-chin or with the
    hair is still that face) while no more than twice its height."""
    cx, cy = found[0] + found[2] / 2, found[1] + found[3] / 2
    inside = truth[0] <= cx <= truth[0] + truth[2] and truth[1] <= cy <= truth[1] + truth[3]
    return iou(truth, found) >= MATCH_IOU or (inside and found[3] <= 2 * truth[3])


@dataclass
class Tally:
    """Counts for one detector on one bucket."""

    faces: int = 0
    hits: int = 0
    false: int = 0
    frames: int = 0
    photos: set[str] = field(default_factory=set)  # distinct faces (people) seen
    missed: Counter[str] = field(default_factory=Counter)
    cpu: list[float] = field(default_factory=list)  # seconds per detection on 640x360 pictures


def score(frame: Frame, found: Sequence[Box], tally: Tally) -> None:
    """Greedy one-to-one matching of found boxes to true faces."""
    free = list(found)
    for truth, photo in zip(frame.faces, frame.photos, strict=True):
        best = next((f for f in sorted(free, key=lambda f: -iou(truth, f)) if matches(truth, f)), None)
        if best is None:
            tally.missed[photo.split("-")[0]] += 1
        else:
            free.remove(best)
            tally.hits += 1
        tally.photos.add(photo.removesuffix("-mirrored"))  # a mirror image is the same person
    tally.faces += len(frame.faces)
    tally.false += len(free)
    tally.frames += 1


def run(frames: list[Frame], names: Sequence[str]) -> dict[str, dict[str, Tally]]:
    """Every detector over every frame (one thread, as in the service)."""
    cv2.setNumThreads(1)
    results: dict[str, dict[str, Tally]] = {}
    for name in names:
        detector = DETECTORS[name]
        detector(frames[0].picture)  # load the model outside the timing
        tallies: dict[str, Tally] = defaultdict(Tally)
        for frame in frames:
            start = time.thread_time()
            found = detector(frame.picture)
            spent = time.thread_time() - start
            tally = tallies[frame.bucket]
            if frame.picture.shape[:2] == (540, 960):
                tally.cpu.append(spent)
            score(frame, found, tally)
        results[name] = dict(tallies)
    return results


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}%" if d else "-"


def report(results: dict[str, dict[str, Tally]], buckets: Sequence[str]) -> str:
    rows: list[list[object]] = []
    for name, tallies in results.items():
        for bucket in buckets:
            t = tallies[bucket]
            if t.faces:
                rows.append([name, bucket, f"{t.faces}/{len(t.photos)}", _pct(t.hits, t.faces),
                             _pct(t.hits, t.hits + t.false), f"{100 * t.false / t.frames:.1f}", "", ""])
            else:
                rows.append([name, bucket, f"0/{t.frames} frames", "-", "-", f"{100 * t.false / t.frames:.1f}", "", ""])
        cpu = [s for t in tallies.values() for s in t.cpu]
        frontal = [t for b, t in tallies.items() if "frontal" in b or b.startswith("roll")]
        hits, total = sum(t.hits for t in frontal), sum(t.faces for t in frontal)
        ms, p95 = f"{1000 * np.mean(cpu):.1f}", f"{1000 * np.percentile(cpu, 95):.1f}"
        rows.append([name, "frontal+roll, all sizes", f"{total}", _pct(hits, total), "", "", ms, p95])
    headers = ["detector", "bucket", "faces/distinct", "recall", "precision", "false/100 fr", "CPU ms", "p95 ms"]
    return table(headers, rows)


def misses(results: dict[str, dict[str, Tally]], name: str) -> str:
    return "\n".join(f"  {bucket}: {dict(t.missed)}" for bucket, t in results[name].items() if t.missed)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-bucket", type=int, default=40, help="frames per face bucket (1-3 faces each)")
    parser.add_argument("--no-face", type=int, default=200, help="frames without a face")
    parser.add_argument("--only", nargs="*", choices=list(DETECTORS), default=list(DETECTORS))
    args = parser.parse_args(argv)
    print(f"load before: {load()}")
    frames = list(labelled_set(per_bucket=args.per_bucket, no_face=args.no_face))
    buckets = list(dict.fromkeys(f.bucket for f in frames))
    results = run(frames, args.only)
    print(report(results, buckets))
    for name in args.only:
        print(f"missed faces by photo, {name}:\n{misses(results, name)}")
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
