"""Who is speaking: each face track's mouth motion set against the speech, and the turns of one shot.

On a 0.1 s grid, a track's evidence at `t` is its mean mouth motion while there is speech in a
window centred on `t`, less half its mean mouth motion while there is none (a mouth that moves as
much in silence is chewing or smiling, not talking). Evidence is scaled by the shot's strongest,
so it reads 0–1 whatever the picture's noise. When the stereo channels move apart (one microphone
per person), the track on the louder side gains up to BALANCE_WEIGHT. The speaker at `t` is the
best track when speech is near, its evidence is at least MIN_EVIDENCE and it leads the next by
MARGIN; otherwise the framing holds. A new speaker is taken only after the current framing has
held MIN_HOLD seconds, so a quick exchange does not flicker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from app.analysis.balance import STEP as BALANCE_STEP
from app.analysis.level import FINE_SECONDS, fine_db
from app.analysis.speech import Pause
from app.analysis.tracks import FaceTrack

GRID = 0.1  # seconds per decision
WINDOW = 1.5  # seconds of evidence around each decision (the analysis is offline: it may look ahead)
MIN_HOLD = 1.5  # seconds a framing holds before the next speaker may take it
MIN_EVIDENCE = 0.25  # share of the shot's strongest evidence a speaker needs
MARGIN = 0.15  # lead over the next track, in the same units
BALANCE_WEIGHT = 0.5  # evidence a fully one-sided stereo balance adds to the track on that side
BALANCE_FULL = 6.0  # dB of balance movement that counts as fully one-sided
VOICE_OVER_FLOOR = 15.0  # dB over the source's quiet floor (10th percentile) that reads as voice
VOICE_DB = -55.0  # and never quieter than this
_HALF = max(1, round(WINDOW / GRID / 2))  # grid steps either side of a decision
NOISE = 0.3  # luma levels: a shot whose strongest evidence is below this has no visible talking


@dataclass(frozen=True)
class Turn:
    """A stretch of one shot framed on one track; `why` says how it was chosen."""

    start: float
    end: float
    track: int | None  # FaceTrack.id; None: no face to frame
    why: str  # "speaker": seen talking; "largest": nobody was seen talking, the largest face


@dataclass(frozen=True)
class Speech:
    """What the audio says about when there is speech and from which side."""

    has_audio: bool
    pauses: tuple[Pause, ...]
    balance: np.ndarray | None = None  # left minus right dB per BALANCE_STEP (NaN: unknown); None: mono
    fine_level: bytes = b""  # the level per 10 ms (`level.fine_code`), for the voice envelope

    def active(self, ts: np.ndarray) -> np.ndarray:
        """1.0 where there is voice at `ts`: outside every VAD pause, or clearly above the source's floor.

        The level reads a voice the VAD does not hear (a far or odd voice) as active too. What it adds
        in music or noise does no harm: only mouths that move with it gain evidence.
        """
        if not self.has_audio:
            return np.zeros(len(ts))
        out = np.ones(len(ts))
        for p in self.pauses:
            out[(ts >= p.start) & (ts < p.end)] = 0.0
        return np.maximum(out, self._loud(ts))

    @cached_property
    def _level(self) -> tuple[np.ndarray, float] | None:
        """The 10 ms level in dB and its quiet floor (10th percentile), read once for every shot of the source."""
        db = fine_db(np.frombuffer(self.fine_level, dtype=np.uint8))
        if not np.isfinite(db).any():
            return None
        return db, float(np.nanpercentile(db, 10))

    def _loud(self, ts: np.ndarray) -> np.ndarray:
        if self._level is None:
            return np.zeros(len(ts))
        db, floor = self._level
        index = np.clip((ts / FINE_SECONDS).astype(int), 0, len(db) - 1)
        reach = round(GRID / 2 / FINE_SECONDS)
        loud = np.zeros(len(ts))
        for shift in range(-reach, reach + 1):  # the loudest 10 ms within the grid step
            values = db[np.clip(index + shift, 0, len(db) - 1)]
            loud = np.maximum(loud, np.nan_to_num(values, nan=-200.0) >= max(floor + VOICE_OVER_FLOOR, VOICE_DB))
        return loud.astype(np.float64)


def turns(tracks: Sequence[FaceTrack], start: float, end: float, speech: Speech, picture_width: float) -> list[Turn]:
    """The framing turns over [start, end) of one shot, from the tracks alive in it."""
    alive = [tr for tr in tracks if tr.end >= start - 0.5 and tr.start < end + 0.5]
    if not alive:
        return [Turn(start, end, None, "centre")]
    ts = np.arange(start, end, GRID) + GRID / 2
    if len(ts) == 0:
        ts = np.array([start])
    active = speech.active(ts)
    evidence = scores(alive, ts, active, speech, picture_width)
    largest = max(alive, key=lambda tr: tr.area()).id
    if evidence is None:
        return [Turn(start, end, largest, "largest")]
    decided = _decisions(alive, evidence, active)
    if all(d is None for d in decided):
        return [Turn(start, end, largest, "largest")]
    return _hold(ts, decided, start, end)


def scores(
    tracks: Sequence[FaceTrack], ts: np.ndarray, active: np.ndarray, speech: Speech, picture_width: float
) -> np.ndarray | None:
    """Evidence (tracks × ts), 0–1 scaled; -inf where a track is absent; None with no visible talking."""
    out = np.full((len(tracks), len(ts)), -np.inf)
    raw = np.zeros((len(tracks), len(ts)))
    for i, track in enumerate(tracks):
        motion = _on_grid(track, ts)
        known = ~np.isnan(motion)
        m = np.where(known, motion, 0.0)
        talking = _window_mean(m * active, known * active, _HALF)
        idle = _window_mean(m * (1 - active), known * (1 - active), _HALF)
        raw[i] = np.maximum(0.0, talking - 0.5 * idle)
        present = (ts >= track.start - 0.5) & (ts <= track.end + 0.5)
        out[i, present] = 0.0
    strongest = float(raw.max()) if raw.size else 0.0
    if strongest < NOISE:
        return None
    balance = _balance(speech, ts)
    for i, track in enumerate(tracks):
        side = (np.median([b.centre[0] for b in track.boxes]) - picture_width / 2) / (picture_width / 2)
        bonus = -side * balance * BALANCE_WEIGHT  # left louder (balance > 0) favours a face left of centre
        present = np.isfinite(out[i])
        out[i, present] = raw[i, present] / strongest + bonus[present]
    return out


def _decisions(tracks: Sequence[FaceTrack], evidence: np.ndarray, active: np.ndarray) -> list[int | None]:
    """The clear speaker at each grid time, or None."""
    near = _window_mean(active, np.ones(len(active)), _HALF)
    out: list[int | None] = []
    for k in range(len(active)):
        column = evidence[:, k]
        order = np.argsort(-column)
        best = column[order[0]]
        second = column[order[1]] if len(order) > 1 and np.isfinite(column[order[1]]) else 0.0
        clear = near[k] > 0.2 and best >= MIN_EVIDENCE and best - second >= MARGIN
        out.append(tracks[int(order[0])].id if clear else None)
    return out


def _hold(ts: np.ndarray, decided: list[int | None], start: float, end: float) -> list[Turn]:
    """Turns from per-step decisions: the first decided speaker from the start, switches held MIN_HOLD."""
    current = next(d for d in decided if d is not None)
    since = start
    bounds: list[tuple[float, int]] = [(start, current)]
    for t, d in zip(ts, decided, strict=True):
        if d is None or d == current:
            continue
        at = round(float(t - GRID / 2), 3)
        if at - since < MIN_HOLD:
            continue
        current, since = d, at
        bounds.append((at, d))
    edges = [b[0] for b in bounds[1:]] + [end]
    return [Turn(a, b, track, "speaker") for (a, track), b in zip(bounds, edges, strict=True)]


def _on_grid(track: FaceTrack, ts: np.ndarray) -> np.ndarray:
    """The track's mouth motion averaged into each grid step; NaN where none was measured."""
    if not track.mouth:
        return np.full(len(ts), np.nan)
    times, values = np.asarray(track.mouth_times), np.asarray(track.mouth)
    edges = np.append(ts - GRID / 2, ts[-1] + GRID / 2)
    index = np.searchsorted(edges, times, side="right") - 1
    ok = (index >= 0) & (index < len(ts))
    sums = np.bincount(index[ok], weights=values[ok], minlength=len(ts))
    counts = np.bincount(index[ok], minlength=len(ts))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _window_mean(values: np.ndarray, weights: np.ndarray, half: int) -> np.ndarray:
    """Centred moving mean of `values` / `weights` over 2·half+1 steps (0 where the weights sum to 0)."""
    kernel = np.ones(2 * half + 1)
    num = np.convolve(values, kernel, mode="same")
    den = np.convolve(weights, kernel, mode="same")
    return np.where(den > 0.5, num / np.maximum(den, 1e-9), 0.0)


def _balance(speech: Speech, ts: np.ndarray) -> np.ndarray:
    """The balance's movement about its median at each grid time, scaled to -1..1 (0 when unknown)."""
    if speech.balance is None or not np.isfinite(speech.balance).any():
        return np.zeros(len(ts))
    grid = speech.balance
    index = np.clip((ts / BALANCE_STEP).astype(int), 0, len(grid) - 1)
    values = grid[index]
    # Midway between the quiet and loud ends, not the median: one person talking most must not
    # become the centre that the other's turns are measured from alone.
    low, high = np.nanpercentile(grid, [10, 90])
    centre = float(low + high) / 2
    moved = np.where(np.isnan(values), 0.0, values - centre)
    smooth = _window_mean(moved, np.ones(len(ts)), _HALF)
    return np.clip(smooth / BALANCE_FULL, -1.0, 1.0)
