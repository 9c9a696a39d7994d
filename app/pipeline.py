"""SmartVideoEditor.process_job: the four stages in order, a checkpoint after each, resuming what was done."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.checkpoint import Checkpoints
from app.media.ffmpeg import Binaries
from app.media.files import matches, unchanged_since
from app.spec import JobSpec
from app.stages.analyze import Plan, analyze
from app.stages.render import RenderedFile, concat, gain_db, render_segment
from app.stages.validate import SourceInfo, validate
from app.stages.verify import Verification, verify

StageHook = Callable[[str, str, float | None], Awaitable[None]]  # stage, "start"|"end"|"skip", seconds
ProgressHook = Callable[[str, float], Awaitable[None]]  # stage, overall 0..1

# Share of the whole job each stage's progress covers (render dominates).
_WEIGHTS = {"validate": (0.0, 0.05), "analyze": (0.05, 0.10), "render": (0.15, 0.80), "verify": (0.95, 0.05)}


class SegmentResult(BaseModel):
    """One clip as delivered: where it came from and what was done to its sound."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    score: float
    source_loudness: float | None
    gain_db: float


class JobResult(BaseModel):
    """The figures a finished job reports; the keys are part of the public contract."""

    model_config = ConfigDict(frozen=True)

    output_path: str
    color_space: str
    audio_loudness: float | None
    loudness_spread_lu: float | None
    segments_processed: int
    segments: list[SegmentResult]
    duration: float
    source_duration: float
    processing_seconds: float
    processing_ratio: float
    stage_seconds: dict[str, float]
    auto_selected: bool
    output_size: int
    output_sha256: str
    cost_usd: float
    verification: Verification


@dataclass(frozen=True)
class Hooks:
    """Callbacks the runner hands in: stage boundaries and progress. Both optional."""

    on_stage: StageHook | None = None
    on_progress: ProgressHook | None = None


class SmartVideoEditor:
    """Runs a job's stages; knows checkpoints and files, never the job store or HTTP."""

    def __init__(
        self, *, binaries: Binaries, temp_dir: Path, max_source_seconds: float, render_parallelism: int = 1
    ) -> None:
        self._bin = binaries
        self._temp_dir = temp_dir
        self._max_seconds = max_source_seconds
        self._parallelism = render_parallelism

    @property
    def jobs_dir(self) -> Path:
        """Where every job's work dir lives."""
        return self._temp_dir / "jobs"

    def work_dir(self, job_id: str) -> Path:
        """Where a job's intermediate files live until it ends (one subdirectory per attempt)."""
        return self.jobs_dir / job_id

    async def process_job(
        self,
        job_id: str,
        source: Path,
        spec: JobSpec,
        output: Path,
        *,
        checkpoints: Checkpoints,
        attempt: str = "local",
        hooks: Hooks = Hooks(),
    ) -> JobResult:
        """Validate, analyze, render, verify; a stage whose checkpoint still holds is skipped."""
        run = _Run(job_id, hooks, checkpoints, await checkpoints.load(job_id))
        info = await run.stage("validate", lambda: self._validate(source), SourceInfo)
        plan = await run.stage("analyze", lambda: analyze(info, spec, binaries=self._bin), Plan)
        # Each attempt writes into its own directory: a worker that lost its lease cannot clobber
        # the files of the attempt that replaced it.
        work = self.work_dir(job_id) / attempt
        reel = await run.stage("render", lambda: self._render(run, work, info, plan, spec, output), RenderedFile)
        report = await run.stage("verify", lambda: self._verify(reel, plan, info), Verification)
        shutil.rmtree(self.work_dir(job_id), ignore_errors=True)
        return _result(run, info, plan, reel, report)

    async def _validate(self, source: Path) -> SourceInfo:
        return await validate(source, binaries=self._bin, max_seconds=self._max_seconds)

    async def _render(
        self, run: _Run, work: Path, info: SourceInfo, plan: Plan, spec: JobSpec, output: Path
    ) -> RenderedFile:
        work.mkdir(parents=True, exist_ok=True)
        total = sum(s.duration for s in plan.segments)
        done: dict[int, float] = {}
        files: dict[int, RenderedFile] = {}
        for s in plan.segments:
            saved = run.saved.get(f"segment:{s.index}")
            if saved and await _still_there(RenderedFile.model_validate(saved)):
                files[s.index] = RenderedFile.model_validate(saved)
                done[s.index] = s.duration
                await run.notify(f"segment:{s.index}", "skip", None)
        limit = asyncio.Semaphore(self._parallelism)

        async def one(index: int) -> None:
            segment = plan.segments[index]

            async def progress(fraction: float) -> None:
                done[index] = fraction * segment.duration
                await run.progress("render", sum(done.values()) / total)

            async with limit:
                await run.notify(f"segment:{index}", "start", None)
                started = time.perf_counter()
                out = work / f"segment_{index:02d}.mov"
                rendered = await render_segment(
                    info, plan, segment, spec.output, out, binaries=self._bin, on_progress=progress
                )
                await run.checkpoints.save_stage_data(run.job_id, f"segment:{index}", **rendered.model_dump())
                files[index] = rendered
                await run.notify(f"segment:{index}", "end", time.perf_counter() - started)

        await _gather_or_cancel([one(s.index) for s in plan.segments if s.index not in files])
        return await concat([files[s.index] for s in plan.segments], output, binaries=self._bin, work_dir=work)

    async def _verify(self, reel: RenderedFile, plan: Plan, info: SourceInfo) -> Verification:
        return await verify(Path(reel.path), plan, binaries=self._bin, has_audio=info.has_audio)


def _result(run: _Run, info: SourceInfo, plan: Plan, reel: RenderedFile, report: Verification) -> JobResult:
    processing = sum(run.seconds.values())
    return JobResult(
        output_path=reel.path,
        color_space="bt709",
        audio_loudness=report.audio_loudness,
        loudness_spread_lu=report.loudness_spread_lu,
        segments_processed=len(plan.segments),
        segments=[
            SegmentResult(
                start=s.start,
                end=round(s.start + s.duration, 6),
                score=s.score,
                source_loudness=s.loudness,
                gain_db=round(gain_db(s), 2),
            )
            for s in plan.segments
        ],
        duration=report.duration,
        source_duration=info.duration,
        processing_seconds=round(processing, 3),
        processing_ratio=round(processing / info.duration, 4),
        stage_seconds=run.seconds,
        auto_selected=plan.auto_selected,
        output_size=reel.size,
        output_sha256=reel.sha256,
        cost_usd=0.0,
        verification=report,
    )


class _Run:
    """One attempt at a job: which stages were saved, and how long each took."""

    def __init__(self, job_id: str, hooks: Hooks, checkpoints: Checkpoints, saved: dict[str, dict[str, Any]]) -> None:
        self.job_id = job_id
        self.checkpoints = checkpoints
        self.hooks = hooks
        self.saved = saved
        self.seconds: dict[str, float] = {}

    async def stage(self, name: str, work: Callable[[], Awaitable[Any]], model: type[Any]) -> Any:
        saved = self.saved.get(name)
        if saved is not None and await self._trusted(name, saved):
            self.seconds[name] = float(saved.get("_seconds", 0.0))
            await self.notify(name, "skip", None)
            await self.progress(name, 1.0)
            return model.model_validate(_strip(saved))
        # A stage redone invalidates what later stages built on it.
        self.saved = {k: v for k, v in self.saved.items() if not _depends_on(k, name)}
        await self.notify(name, "start", None)
        started = time.perf_counter()
        value = await work()
        elapsed = time.perf_counter() - started
        self.seconds[name] = round(elapsed, 3)
        await self.checkpoints.save_stage_data(self.job_id, name, _seconds=elapsed, **value.model_dump())
        await self.progress(name, 1.0)
        await self.notify(name, "end", elapsed)
        return value

    async def _trusted(self, name: str, saved: dict[str, Any]) -> bool:
        # A checkpoint naming a file is trusted only while that file is exactly what was recorded.
        if name == "validate":
            return await unchanged_since(Path(saved["path"]), saved["size"], saved["sha256"], saved.get("identity"))
        if name in ("render", "verify"):
            reel = self.saved.get("render")
            return reel is not None and await _still_there(RenderedFile.model_validate(_strip(reel)))
        return True

    async def progress(self, stage: str, fraction: float) -> None:
        if self.hooks.on_progress:
            start, width = _WEIGHTS[stage]
            await self.hooks.on_progress(stage, round(start + width * min(max(fraction, 0.0), 1.0), 4))

    async def notify(self, stage: str, event: str, seconds: float | None) -> None:
        if self.hooks.on_stage:
            await self.hooks.on_stage(stage, event, seconds)


def _depends_on(key: str, stage: str) -> bool:
    # Clip checkpoints ("segment:N") are part of render: the plan they were cut from must hold.
    order = list(_WEIGHTS)
    owner = "render" if key.startswith("segment:") else key
    return owner in order and order.index(owner) > order.index(stage)


def _strip(saved: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in saved.items() if k != "_seconds"}


async def _still_there(f: RenderedFile) -> bool:
    # Hashed in a thread: the event loop keeps renewing the lease and serving the API meanwhile.
    return await asyncio.to_thread(matches, Path(f.path), f.size, f.sha256)


async def _gather_or_cancel(tasks: list[Coroutine[Any, Any, None]]) -> None:
    # If one clip fails, stop the others at once instead of letting them finish for nothing, and
    # raise that clip's own error (not a group) so the runner can tell bad input from a crash.
    try:
        async with asyncio.TaskGroup() as group:
            for t in tasks:
                group.create_task(t)
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
