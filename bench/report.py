"""The benchmark's tables, targets and JSON record."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.approaches import TARGET_LUFS, Run
from bench.measure import Quality
from bench.source import BenchSource

OURS = ("c", "c_api")


@dataclass(frozen=True)
class Target:
    """One goal for (c), its measured value per run of (c), and whether each met it."""

    name: str
    values: dict[str, str]
    met: dict[str, bool]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Plain-text table: first column left-aligned, the rest right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def timing_table(runs: dict[str, Run], source: BenchSource) -> str:
    """Wall time of each approach, its ratios to (a) and (b) and to the source's length, and peak memory."""
    a, b = runs.get("a"), runs.get("b")
    rows = [
        [
            r.label,
            f"{r.wall:.1f}",
            f"{r.wall / a.wall:.2f}" if a else "-",
            f"{r.wall / b.wall:.2f}" if b else "-",
            f"{r.wall / source.duration:.3f}",
            f"{r.load_before:.2f}",
            f"{_share(r.other_cpu_s, r.wall):.0f}%",
            f"{r.ffmpeg_cpu_s:.0f}",
            f"{_share(r.ffmpeg_cpu_s, r.wall):.0f}%",
            "-" if r.peak_python_mb is None else f"{r.peak_python_mb:.0f}",
            f"{r.peak_ffmpeg_mb:.0f}",
        ]
        for r in runs.values()
    ]
    headers = ["approach", "wall s", "/(a)", "/(b)", "/source", "load", "others", "ffmpeg CPU s", "CPU use"]
    headers += ["py RSS MB", "ffmpeg RSS MB"]
    return table(headers, rows)


def quality_table(runs: dict[str, Run], qualities: dict[str, Quality]) -> str:
    """Loudness, tags and fidelity of each output."""
    rows = []
    for key, q in qualities.items():
        rows.append(
            [
                runs[key].label,
                f"{q.integrated_lufs:.2f}",
                f"{q.spread_lu:.2f}",
                " ".join(f"{c:.1f}" for c in q.clip_lufs),
                "yes" if q.bt709 else "NO",
                f"{q.frames}/{q.expected_frames}" + (f" ({q.frame_offset:+d})" if q.frame_offset else ""),
                _num(q.ssim, 4),
                _num(q.psnr, 2),
                _num(q.vmaf, 2),
            ]
        )
    headers = ["output", "LUFS", "spread LU", "clip LUFS", "BT.709", "frames", "SSIM", "PSNR dB", "VMAF"]
    return table(headers, rows)


def steps_table(run: Run, other: Run | None = None) -> str:
    """Seconds per stage (or step) of a run, and its share of the total; a second run side by side."""
    runs = [run] if other is None else [run, other]
    names = list(dict.fromkeys(n for r in runs for n in r.steps))
    rows = []
    for name in names:
        row: list[object] = [name]
        for r in runs:
            total = sum(r.steps.values()) or 1.0
            seconds = r.steps.get(name)
            row += ["-", "-"] if seconds is None else [f"{seconds:.2f}", f"{100 * seconds / total:.0f}%"]
        rows.append(row)
    headers = ["stage"] + [h for r in runs for h in (f"{r.label} s", "share")]
    return table(headers, rows)


def targets(runs: dict[str, Run], qualities: dict[str, Quality], source: BenchSource) -> list[Target]:
    """The goals for (c), evaluated on each run of it."""
    found: list[Target] = []
    checks: list[tuple[str, Callable[[Run, Quality], float | None], Callable[[float], bool], str]] = [
        ("(c) >= 1.8x faster than (a)", lambda r, q: _ratio(runs, "a", r, inverse=True), lambda v: v >= 1.8, "x"),
        ("(c) within 1.15x of (b)", lambda r, q: _ratio(runs, "b", r), lambda v: v <= 1.15, "x"),
        ("job time <= 0.25x source", lambda r, q: r.wall / source.duration, lambda v: v <= 0.25, "x"),
        ("clip spread <= 0.5 LU", lambda r, q: q.spread_lu, lambda v: v <= 0.5, " LU"),
        ("integrated -16 +/- 0.3 LUFS", lambda r, q: q.integrated_lufs, lambda v: abs(v - TARGET_LUFS) <= 0.3, ""),
        ("SSIM >= 0.98 (or VMAF >= 95)", lambda r, q: q.ssim, lambda v: v >= 0.98, ""),
        ("Python RSS < 300 MB", lambda r, q: r.peak_python_mb, lambda v: v < 300, " MB"),
    ]
    for name, value_of, ok, unit in checks:
        values, met = {}, {}
        for key in OURS:
            if key not in runs or key not in qualities:
                continue
            value = value_of(runs[key], qualities[key])
            values[key] = "-" if value is None else f"{value:.3f}{unit}"
            met[key] = value is not None and bool(ok(value))
            vmaf = qualities[key].vmaf
            if name.startswith("SSIM") and not met[key] and vmaf is not None:
                met[key] = vmaf >= 95
        found.append(Target(name, values, met))
    return found


def targets_table(found: list[Target], runs: dict[str, Run]) -> str:
    """Each target with its value and verdict per run of (c)."""
    keys = [k for k in OURS if k in runs]
    rows = [[t.name, *[f"{t.values.get(k, '-')} {'met' if t.met.get(k) else 'MISSED'}" for k in keys]] for t in found]
    return table(["target", *[runs[k].label for k in keys]], rows)


def write_json(path: Path, record: dict[str, Any]) -> None:
    """Write the run as JSON (paths as strings)."""
    path.write_text(json.dumps(record, indent=2, default=_plain) + "\n")


def record(
    machine: dict[str, object],
    source: BenchSource,
    runs: dict[str, Run],
    qualities: dict[str, Quality],
    found: list[Target],
) -> dict[str, Any]:
    """Everything the tables show, as one JSON-ready dict."""
    return {
        "machine": machine,
        "source": {
            "path": str(source.path),
            "duration": source.duration,
            "clips": [dataclasses.asdict(c) for c in source.clips],
        },
        "runs": {k: dataclasses.asdict(r) for k, r in runs.items()},
        "quality": {k: dataclasses.asdict(q) for k, q in qualities.items()},
        "targets": [dataclasses.asdict(t) for t in found],
        "load_after": os.getloadavg(),
    }


def _ratio(runs: dict[str, Run], ref: str, run: Run, *, inverse: bool = False) -> float | None:
    if ref not in runs:
        return None
    return runs[ref].wall / run.wall if inverse else run.wall / runs[ref].wall


def _share(cpu_seconds: float, wall: float) -> float:
    # Percent of all the machine's cores over `wall` seconds.
    return 100 * cpu_seconds / (wall * (os.cpu_count() or 1))


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _cell(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _plain(value: object) -> object:
    return str(value) if isinstance(value, Path) else repr(value)
