"""What a run was measured on: the machine, the ffmpeg build, the load, and the exact app code."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path

import app
from app.config import Settings
from app.media.ffmpeg import Binaries


def machine_info(binaries: Binaries) -> dict[str, object]:
    """Cores, CPU model, ffmpeg and Python versions, the render setting, the load and the app's version."""
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.processor())
    version = subprocess.run([binaries.ffmpeg, "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ffmpeg": version.split(" Copyright")[0].strip(),
        "python": platform.python_version(),
        "render_parallelism": Settings().render_parallelism,
        "app_commit": _git_commit(),
        "app_sources": app_fingerprint(),
        "load_before": load(),
    }


def app_fingerprint() -> str:
    """A hash of every app/ source file: tells whether the code changed while the benchmark ran."""
    root = Path(app.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _git_commit() -> str:
    root = Path(app.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "app"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+uncommitted" if dirty.stdout.strip() else "") if head.returncode == 0 else "unknown"
