"""Running ffmpeg the way a shell script does, and timing named steps."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.media.ffmpeg import Binaries


def run_ffmpeg(binaries: Binaries, args: Sequence[str]) -> str:
    """Run ffmpeg to completion (a plain blocking subprocess); return its stderr, raise with it on failure."""
    argv = [binaries.ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-y", *args]
    done = subprocess.run(argv, capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {' '.join(argv)}\n{tail}")
    return done.stderr


def run_ffprobe(binaries: Binaries, args: Sequence[str]) -> str:
    """Run ffprobe; return its stdout."""
    done = subprocess.run([binaries.ffprobe, "-v", "error", *args], capture_output=True, text=True, check=True)
    return done.stdout


@dataclass
class Timer:
    """Wall-clock seconds of named steps, in the order they ran."""

    steps: dict[str, float] = field(default_factory=dict)

    def step(self, name: str) -> _Step:
        """A context manager that adds its duration to `steps[name]`."""
        return _Step(self, name)

    @property
    def total(self) -> float:
        """Sum of all steps."""
        return sum(self.steps.values())


class _Step:
    def __init__(self, timer: Timer, name: str) -> None:
        self._timer = timer
        self._name = name
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._start
        self._timer.steps[self._name] = round(self._timer.steps.get(self._name, 0.0) + elapsed, 3)
