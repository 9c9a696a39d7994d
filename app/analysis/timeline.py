"""The source's features reduced to what a page draws: rounded per-second arrays, a 0.1 s envelope, speech spans.

Pure: features in, small lists out. Rounding keeps the analysis artefact small (a 90 s source's is a few KB,
an hour's a few hundred) without changing anything a person can see.
"""

from __future__ import annotations

import math

import numpy as np

from app.analysis.features import SourceFeatures
from app.analysis.level import FINE_SECONDS, UNMEASURED, fine_db

ENVELOPE_STEP = 0.1  # seconds per envelope entry: ten of the level meter's 10 ms steps
MIN_SPEECH = 0.1  # seconds: a speech span shorter than this between two pauses is a click, not a word


def rounded(grid: np.ndarray, digits: int = 3) -> list[float | None]:
    """A grid as a list, NaN as None, each value rounded to `digits`."""
    return [None if math.isnan(v) else round(float(v), digits) for v in grid]


def envelope(fine_level: bytes, *, step: float = ENVELOPE_STEP) -> list[float | None]:
    """The 10 ms level series as dBFS per `step`: the power mean of the measured steps; None where none was."""
    codes = np.frombuffer(fine_level, dtype=np.uint8)
    per = max(1, round(step / FINE_SECONDS))
    n = math.ceil(len(codes) / per)
    if n == 0:
        return []
    padded = np.full(n * per, UNMEASURED, dtype=np.uint8)
    padded[: len(codes)] = codes
    db = fine_db(padded).reshape(n, per)
    power = np.power(10.0, db / 10.0)
    measured = ~np.isnan(power)
    counts = measured.sum(axis=1)
    sums = np.where(measured, power, 0.0).sum(axis=1)
    return [round(10.0 * math.log10(t / c), 1) if c else None for t, c in zip(sums, counts, strict=True)]


def audio_spans(fine_level: bytes) -> list[tuple[float, float]]:
    """Where audio was decoded (runs of measured 10 ms steps), in source seconds."""
    measured = np.frombuffer(fine_level, dtype=np.uint8) != UNMEASURED
    if not measured.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], measured.astype(np.int8), [0]])))
    return [
        (round(a * FINE_SECONDS, 2), round(b * FINE_SECONDS, 2)) for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]


def speech_spans(features: SourceFeatures) -> list[tuple[float, float]]:
    """Speech regions: the decoded audio minus its pauses (every run without speech of 0.2 s or more)."""
    pauses = sorted((p.start, p.end) for p in features.pauses)
    spans: list[tuple[float, float]] = []
    for start, end in audio_spans(features.fine_level):
        at = start
        for a, b in pauses:
            if b <= at or a >= end:
                continue
            if a - at >= MIN_SPEECH:
                spans.append((round(at, 2), round(a, 2)))
            at = max(at, b)
        if end - at >= MIN_SPEECH:
            spans.append((round(at, 2), round(end, 2)))
    return spans


def face_boxes(features: SourceFeatures) -> list[tuple[int, list[tuple[float, float, float, float, float]]]]:
    """Each face track's boxes as (t, x, y, w, h), normalised 0..1 of the picture faces were found on."""
    if features.picture_size is None:
        return []
    pw, ph = features.picture_size
    return [
        (
            track.id,
            [
                (round(b.t, 2), round(b.x / pw, 4), round(b.y / ph, 4), round(b.w / pw, 4), round(b.h / ph, 4))
                for b in track.boxes
            ],
        )
        for track in features.face_tracks
    ]
