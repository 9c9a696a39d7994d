"""(c) Our pipeline: in-process as `smartedit process` runs it, and through the API of `smartedit serve`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from app.config import Settings
from app.db.checkpoint import MemoryCheckpoints
from app.domain.result import JobResult
from app.domain.spec import Highlight, JobSpec
from app.pipeline.editor import Hooks
from app.service.wiring import make_editor
from bench.approaches import Run
from bench.sampler import ProcessSampler
from bench.source import FPS, BenchSource

READY_TIMEOUT = 180.0
JOB_TIMEOUT = 1800.0
POLL_SECONDS = 0.25
# The service must start its own embedded PostgreSQL/Redis and be open (no key) on a port of ours.
_STRIPPED_ENV = ("POSTGRES_HOST", "POSTGRES_PORT", "REDIS_HOST", "REDIS_PORT", "API_KEYS", "WEBHOOK_SECRET")


def highlights(source: BenchSource) -> list[Highlight]:
    """The benchmark's clips as a client would send them."""
    return [Highlight(start_time=c.start, end_time=c.start + c.duration, score=0.9) for c in source.clips]


def in_process(source: BenchSource, work: Path) -> tuple[Run, JobResult]:
    """Run SmartVideoEditor.process_job with in-memory checkpoints, exactly as `smartedit process` does."""
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    editor = make_editor(settings.model_copy(update={"temp_dir": work / "tmp"}))
    spec = JobSpec(input_path=str(source.path), highlights=highlights(source))
    out = (work / "reel_c.mp4").resolve()
    baseline = psutil.Process().memory_info().rss / 2**20
    timeline = _Timeline()
    load, started = os.getloadavg()[0], time.perf_counter()
    with ProcessSampler() as sampler:
        job = editor.process_job(
            uuid.uuid4().hex, source.path.resolve(), spec, out, checkpoints=MemoryCheckpoints(), hooks=timeline.hooks()
        )
        result = asyncio.run(job)
    wall = time.perf_counter() - started
    run = Run(
        key="c",
        label="(c) ours, in-process",
        wall=wall,
        output=out,
        clip_frames=[round((s.end - s.start) * FPS) for s in result.segments],
        steps=dict(result.stage_seconds),
        peak_python_mb=sampler.peak_main_mb,
        peak_ffmpeg_mb=sampler.peak_tools_mb,
        load_before=load,
        ffmpeg_cpu_s=sampler.children_cpu_seconds,
        other_cpu_s=sampler.other_cpu_seconds,
        extra={
            "python_rss_before_mb": round(baseline, 1),
            "python_cpu_s": round(sampler.cpu_seconds, 2),
            "render_parallelism": settings.render_parallelism,
            "clip_seconds": timeline.clips,
        },
    )
    return run, result


class _Timeline:
    """Records how long each clip's encode took, from the pipeline's stage hook."""

    def __init__(self) -> None:
        self.clips: dict[str, float] = {}

    def hooks(self) -> Hooks:
        """Hooks that feed this timeline."""
        return Hooks(on_stage=self._on_stage)

    async def _on_stage(self, stage: str, event: str, seconds: float | None) -> None:
        if stage.startswith("segment:") and event == "end" and seconds is not None:
            self.clips[stage] = round(seconds, 3)


def via_api(source: BenchSource, work: Path) -> tuple[Run, dict[str, Any]]:
    """Start `smartedit serve`, submit the job over HTTP, poll it to completion; job wall time from the server."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with _serve(source, work, port) as (proc, startup), httpx.Client(base_url=base, timeout=30) as client:
        load = os.getloadavg()[0]
        with ProcessSampler(proc.pid) as sampler:
            started = time.perf_counter()
            job = _submit(client, source)
            view = _wait(client, job, proc)
            client_wall = time.perf_counter() - started
    if view["status"] != "completed":
        raise RuntimeError(f"API job ended {view['status']}: {view.get('error')}")
    result: dict[str, Any] = view["result"]
    server_wall = (_when(view["finished_at"]) - _when(view["created_at"])).total_seconds()
    run = Run(
        key="c_api",
        label="(c) ours, via API",
        wall=server_wall,
        output=Path(result["output_path"]),
        clip_frames=[round((s["end"] - s["start"]) * FPS) for s in result["segments"]],
        steps=dict(result["stage_seconds"]),
        peak_python_mb=sampler.peak_main_mb,
        peak_ffmpeg_mb=sampler.peak_tools_mb,
        load_before=load,
        ffmpeg_cpu_s=sampler.children_cpu_seconds,
        other_cpu_s=sampler.other_cpu_seconds,
        extra={
            "client_wall_s": round(client_wall, 3),
            "service_startup_s": round(startup, 3),
            "python_cpu_s": round(sampler.cpu_seconds, 2),
        },
    )
    return run, result


@contextlib.contextmanager
def _serve(source: BenchSource, work: Path, port: int) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    env |= {
        "DATA_DIR": str(work / "data"),
        "MEDIA_ROOT": str(source.path.parent),
        "OUTPUT_ROOT": str(work / "output"),
        "TEMP_DIR": str(work / "tmp"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    script = Path(sys.executable).with_name("smartedit")
    argv = [str(script), "serve"] if script.exists() else [sys.executable, "-m", "app.cli", "serve"]
    started = time.perf_counter()
    with (work / "serve.log").open("wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_ready(port, proc)
        yield proc, time.perf_counter() - started
    finally:
        _stop(proc)


def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"smartedit serve exited with {proc.returncode}; see serve.log")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"smartedit serve not ready after {READY_TIMEOUT:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # SIGTERM lets serve stop its embedded PostgreSQL and Redis; the group kill is only for a hung one.
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _submit(client: httpx.Client, source: BenchSource) -> str:
    body = {"input_path": source.path.name, "highlights": [h.model_dump() for h in highlights(source)]}
    response = client.post("/jobs", json=body)
    response.raise_for_status()
    job_id: str = response.json()["id"]
    return job_id


def _wait(client: httpx.Client, job_id: str, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT
    while time.monotonic() < deadline:
        view: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if view["status"] in ("completed", "failed", "cancelled"):
            return view
        if proc.poll() is not None:
            raise RuntimeError("smartedit serve died during the job; see serve.log")
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"job {job_id} not finished after {JOB_TIMEOUT:.0f} s")


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
