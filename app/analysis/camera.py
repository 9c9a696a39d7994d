"""A virtual camera that follows a moving target within one shot: dead zone, speed cap, no oscillation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float, float]  # t, x, y


@dataclass(frozen=True)
class CameraLimits:
    """How the camera may move, in source pixels and seconds."""

    dead_zone: float  # target offsets within this are ignored: no creeping after small head moves
    max_speed: float  # pixels per second (the norm of the velocity)
    reversal_gap: float = 1.05  # seconds between two changes of direction on one axis
    response: float = 0.5  # seconds to close an offset, before the speed cap
    step: float = 0.1  # simulation step, seconds


def follow(
    ts: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    start: float,
    end: float,
    x_bounds: tuple[float, float],
    y_bounds: tuple[float, float],
    limits: CameraLimits,
) -> list[Point]:
    """The camera's (t, x, y) from `start` to `end` chasing the target (ts, xs, ys), clamped to bounds."""
    axes = [_Axis(float(np.interp(start, ts, xs)), x_bounds), _Axis(float(np.interp(start, ts, ys)), y_bounds)]
    path: list[Point] = [(start, axes[0].pos, axes[1].pos)]
    acceleration = 2 * limits.max_speed  # full speed within half a second
    t = start
    while t < end - 1e-9:
        dt = min(limits.step, end - t)
        targets = (float(np.interp(t, ts, xs)), float(np.interp(t, ts, ys)))
        wants = [axis.want(target, t, dt, limits, acceleration) for axis, target in zip(axes, targets, strict=True)]
        norm = math.hypot(*wants)
        scale = min(1.0, limits.max_speed / norm) if norm > 0 else 1.0
        for axis, want in zip(axes, wants, strict=True):
            axis.move(want * scale, dt)
        t += dt
        path.append((t, axes[0].pos, axes[1].pos))
    return path


def simplify(path: list[Point], tolerance: float = 1.0) -> list[Point]:
    """Drop points that linear interpolation reproduces within `tolerance` pixels (Ramer–Douglas–Peucker)."""
    if len(path) <= 2:
        return path
    keep = [False] * len(path)
    keep[0] = keep[-1] = True
    stack = [(0, len(path) - 1)]
    while stack:
        i, j = stack.pop()
        (ti, xi, yi), (tj, xj, yj) = path[i], path[j]
        worst, at = 0.0, -1
        for k in range(i + 1, j):
            tk, xk, yk = path[k]
            f = (tk - ti) / (tj - ti)
            error = max(abs(xi + f * (xj - xi) - xk), abs(yi + f * (yj - yi) - yk))
            if error > worst:
                worst, at = error, k
        if worst > tolerance:
            keep[at] = True
            stack += [(i, at), (at, j)]
    return [p for p, k in zip(path, keep, strict=True) if k]


class _Axis:
    """One axis of the camera: position, velocity and the last direction it took."""

    def __init__(self, pos: float, bounds: tuple[float, float]) -> None:
        self.low, self.high = bounds
        self.pos = min(max(pos, self.low), self.high)
        self.vel = 0.0
        self.direction = 0
        self.turned_at = -math.inf

    def want(self, target: float, t: float, dt: float, limits: CameraLimits, acceleration: float) -> float:
        """The velocity the camera takes next on this axis."""
        error = min(max(target, self.low), self.high) - self.pos
        if abs(error) <= limits.dead_zone:
            wanted = 0.0
        else:
            wanted = (error - math.copysign(limits.dead_zone, error)) / limits.response
        wanted = max(-limits.max_speed, min(limits.max_speed, wanted))
        wanted = max(self.vel - acceleration * dt, min(self.vel + acceleration * dt, wanted))
        sign = (wanted > 1e-6) - (wanted < -1e-6)
        if sign and sign != self.direction:
            if self.direction and t - self.turned_at < limits.reversal_gap:
                return 0.0  # stop rather than swing back: reversals at most once a reversal_gap
            if self.direction:
                self.turned_at = t
            self.direction = sign
        return wanted

    def move(self, velocity: float, dt: float) -> None:
        """Advance by `velocity` for `dt`, stopping at the bounds."""
        self.vel = velocity
        moved = self.pos + velocity * dt
        self.pos = min(max(moved, self.low), self.high)
        if self.pos != moved:
            self.vel = 0.0
