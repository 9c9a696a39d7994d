"""`make test` on a fresh clone, alone and beside another job that wants both cores: how long a change waits for CI.

`python -m bench.suite` (or `make bench-suite`) clones this checkout's HEAD into a temporary directory and runs
`.ci/run` there, once on an idle machine and once while a competing job runs: the wheel's ffmpeg encoding a
720p test picture with libx264 `-preset medium` in a loop, on as many threads as it likes (what another build,
a video job or a second CI run on the same machine does). It prints one row per run: the whole `.ci/run`, the
pytest part of it, the CPU seconds of everything the run started, and the competitor's CPU seconds over the same
time. `--only MODE` runs one of them.

How the kernel splits the cores decides the result, so the competitor runs two ways:
- `shared`: in the run's own session. The scheduler shares by runnable thread: the suite's four workers and their
  ffmpeg runs against x264's threads (what two jobs started by one CI agent get).
- `apart`: in a session of its own. With autogroup on (Linux's default for desktop and most server kernels), each
  session gets an equal share, whatever its thread count: the suite gets one core of two (what two jobs in
  separate sessions, or in containers of equal CPU weight, get).
`idle` runs alone; `python -m bench.suite` runs idle and shared.

The target (issue 24): `make test` within 8 minutes on 2 cores while another job shares them.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from app.media.ffmpeg import find_binaries

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 8 * 60


@dataclass(frozen=True)
class Run:
    mode: str
    passed: bool
    total: float
    pytest: float | None
    cpu: float
    competitor_cpu: float
    summary: str


def competitor(mode: str = "shared") -> subprocess.Popen[bytes]:
    """Another job that wants both cores: an endless 720p picture encoded by libx264 `medium`, until stopped;
    `apart` puts it in a session (and so a scheduling group) of its own."""
    command = [find_binaries().ffmpeg, "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
               "-c:v", "libx264", "-preset", "medium", "-f", "null", "-"]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=mode == "apart"
    )


def run_once(mode: str, log: Path) -> Run:
    with tempfile.TemporaryDirectory(prefix="smartedit-suite-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        other = competitor(mode) if mode != "idle" else None
        competitor_cpu = 0.0
        try:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            with log.open("wb") as out:
                done = subprocess.run([str(clone / ".ci" / "run")], cwd=clone, stdout=out, stderr=subprocess.STDOUT)
            total = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        finally:  # however the run ends: a competitor left running would skew every later measurement
            if other is not None:
                times = psutil.Process(other.pid).cpu_times()
                competitor_cpu = times.user + times.system
                other.kill()
                other.wait()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = log.read_text(errors="replace")
    found = re.findall(r"=+ (.*?) in ([0-9.]+)s", text)
    summary, seconds = found[-1] if found else ("no pytest summary", None)
    return Run(mode, done.returncode == 0, total, float(seconds) if seconds else None, cpu, competitor_cpu, summary)


def minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("idle", "shared", "apart"), help="run one of them")
    parser.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()), help="where each run's output goes")
    args = parser.parse_args()
    args.logs.mkdir(parents=True, exist_ok=True)
    modes = [args.only] if args.only else ["idle", "shared"]
    print(f"{os.cpu_count()} CPUs; target: .ci/run within {minutes(TARGET_SECONDS)} while another job shares them")
    runs = []
    for mode in modes:
        log = args.logs / f"suite-{mode}.log"
        print(f"running .ci/run ({mode}), output in {log.name} ...", flush=True)
        runs.append(run_once(mode, log))
    print()
    within = f"within {TARGET_SECONDS // 60} min"
    print(f"| run | .ci/run | pytest | CPU s (suite) | CPU s (competitor) | {within} | result |")
    print("|---|---|---|---|---|---|---|")
    for r in runs:
        within = "yes" if r.total <= TARGET_SECONDS else "no"
        competitor_cpu = f"{r.competitor_cpu:.0f}" if r.mode != "idle" else "—"
        print(
            f"| {r.mode} | {minutes(r.total)} | {minutes(r.pytest)} | {r.cpu:.0f} | {competitor_cpu} | {within} | "
            f"{r.summary} |"
        )
    return 0 if all(r.passed for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
