"""The stage table, and SmartVideoEditor.process_job: stages in order, a checkpoint after each, resuming the rest."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from app.ai.ports import Ranker
from app.analysis import face_detector
from app.analysis.features import SourceFeatures
from app.db.checkpoint import Checkpoints
from app.domain.spec import JobSpec
from app.media.ffmpeg import Binaries, gather_or_cancel
from app.media.files import matches, unchanged_since
from app.pipeline.run import NO_HOOKS, Hooks, JobFiles, Stage, StageRun, StageTable
from app.stages.analyze import Plan, analyze
from app.stages.captions import write_captions
from app.stages.fetch import Fetcher, Staged, in_place, still_staged
from app.stages.render import Reel, RenderedClip, RenderedFile, concat
from app.stages.result import JobResult, job_result
from app.stages.smart import encode_clip, render_clip, smart_source
from app.stages.thumbnail import poster
from app.stages.timeline import read_features_file, write_files
from app.stages.validate import SourceInfo, validate
from app.stages.verify import Verified, verify


class SmartVideoEditor:
    """Runs a job's stages; knows checkpoints and files, never the job store or HTTP.

    `ranker` chooses among automatic clips (AI ranking); None keeps the offline picker's choice.
    """

    def __init__(
        self,
        *,
        binaries: Binaries,
        temp_dir: Path,
        max_source_seconds: float,
        render_parallelism: int = 1,
        ranker: Ranker | None = None,
    ) -> None:
        self.binaries = binaries
        self.ranker = ranker
        self._temp_dir = temp_dir
        self.max_source_seconds = max_source_seconds
        self.render_parallelism = render_parallelism

    def prepare(self) -> None:
        """Load what the first analysis would (the face detector's network); blocking, so call it in a thread,
        before taking a job."""
        face_detector.load()

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
        source: Path | Fetcher,
        spec: JobSpec,
        output: Path,
        *,
        checkpoints: Checkpoints,
        attempt: str = "local",
        hooks: Hooks = NO_HOOKS,
        publish: Callable[[Verified, Staged], Awaitable[None]] | None = None,
    ) -> JobResult:
        """Run the stage table in order; a stage whose checkpoint still holds is skipped.

        `source` is a local file read where it lies, or what stages one into the job's directory (S3, a URL).

        `publish` hands the verified reel, its poster frame and the rest (and the staged source, which a source
        not kept elsewhere is published as) to the media store before the job's temp dir goes: a publish that
        fails leaves the files and every checkpoint in place, so a retry only publishes.
        """
        # Each attempt writes into its own directory: a worker that lost its lease cannot clobber
        # the files of the attempt that replaced it.
        job = JobFiles(job_id, source, spec, output, self.work_dir(job_id) / attempt)
        _remove_stale_pipes(self.work_dir(job_id))
        run = StageRun(TABLE, job, hooks, checkpoints, await checkpoints.load(job_id))
        for stage in STAGES:
            run.results[stage.name] = await run.stage(stage, self)
        if publish is not None:
            await publish(run.get("verify", Verified), run.get("fetch", Staged))
        shutil.rmtree(self.work_dir(job_id), ignore_errors=True)
        return _result(run)


async def _fetch(editor: SmartVideoEditor, run: StageRun) -> Staged:
    async def progress(fraction: float) -> None:
        await run.progress("fetch", fraction)

    source = run.job.source
    if isinstance(source, Path):
        return await in_place(source)
    # The job's directory, not the attempt's: a complete copy outlives the attempt that made it.
    return await source(editor.work_dir(run.job.id), progress)


async def _validate(editor: SmartVideoEditor, run: StageRun) -> SourceInfo:
    staged = run.get("fetch", Staged)
    return await validate(staged, binaries=editor.binaries, max_seconds=editor.max_source_seconds)


async def _analyze(editor: SmartVideoEditor, run: StageRun) -> Plan:
    async def progress(fraction: float) -> None:
        await run.progress("analyze", fraction)

    info, staged = run.get("validate", SourceInfo), run.get("fetch", Staged)
    reuse = await _base_features(staged)
    plan = await analyze(
        info,
        run.job.spec,
        binaries=editor.binaries,
        work_dir=run.job.work,
        on_progress=progress,
        ranker=editor.ranker,
        job_id=run.job.id,
        reuse=reuse,
    )
    if plan.reused_analysis:  # the job's events say it: nothing was decoded for its clips
        await run.notify("analyze", "reuse", None)
    return plan


async def _base_features(staged: Staged) -> SourceFeatures | None:
    """A base job's features (`based_on`), when it published some and they are still there to read."""
    if staged.features is None:
        return None
    try:
        return await asyncio.to_thread(read_features_file, Path(staged.features))
    except (OSError, ValueError, KeyError):  # gone, or written by another version: decode instead
        return None


async def _render(editor: SmartVideoEditor, run: StageRun) -> Reel:
    info, plan, job = run.get("validate", SourceInfo), run.get("analyze", Plan), run.job
    job.work.mkdir(parents=True, exist_ok=True)
    total = sum(s.duration for s in plan.segments)
    done: dict[int, float] = {}
    files: dict[int, RenderedClip] = {}
    for s in plan.segments:
        saved = run.saved.get(f"segment:{s.index}")
        clip = RenderedClip.model_validate(saved) if saved else None
        # A clip without in-band parameter sets predates smart render: it could not be joined to a copied one.
        if clip and clip.params_inband and await _still_there(clip):
            files[s.index] = clip
            done[s.index] = s.duration
            await run.notify(f"segment:{s.index}", "skip", None)
    limit = asyncio.Semaphore(editor.render_parallelism)
    smart = await smart_source(info, plan, job.spec.output, binaries=editor.binaries)

    async def one(index: int) -> None:
        segment = plan.segments[index]

        async def progress(fraction: float) -> None:
            done[index] = fraction * segment.duration
            await run.progress("render", sum(done.values()) / total)

        async with limit:
            await run.notify(f"segment:{index}", "start", None)
            started = time.perf_counter()
            out = _clip_file(job, index)
            rendered = await render_clip(
                info, smart, plan, segment, job.spec.output, out, binaries=editor.binaries, on_progress=progress
            )
            await run.checkpoints.save_stage_data(job.id, f"segment:{index}", **rendered.model_dump())
            files[index] = rendered
            await run.notify(f"segment:{index}", "end", time.perf_counter() - started)

    await gather_or_cancel([one(s.index) for s in plan.segments if s.index not in files])
    clips = [files[s.index] for s in plan.segments]
    return await concat(clips, job.output, binaries=editor.binaries, work_dir=job.work)


def _clip_file(job: JobFiles, index: int) -> Path:
    """Where the attempt writes clip `index`: render makes it, verify may encode it again whole."""
    return job.work / f"segment_{index:02d}.mov"


async def _verify(editor: SmartVideoEditor, run: StageRun) -> Verified:
    job = run.job
    job.work.mkdir(parents=True, exist_ok=True)
    info, reel, plan = run.get("validate", SourceInfo), run.get("render", Reel), run.get("analyze", Plan)

    async def encode_whole(index: int, reason: str) -> RenderedClip:
        smart = await smart_source(info, plan, job.spec.output, binaries=editor.binaries)
        segment = plan.segments[index]
        out = _clip_file(job, index)
        clip = await encode_clip(
            info, smart, plan, segment, job.spec.output, out, binaries=editor.binaries, reason=reason
        )
        await run.checkpoints.save_stage_data(job.id, f"segment:{index}", **clip.model_dump())
        return clip

    verified = await verify(
        reel, plan, binaries=editor.binaries, has_audio=info.has_audio, work_dir=job.work, reencode=encode_whole
    )
    thumbnail = await poster(Path(verified.reel.path), plan, binaries=editor.binaries)
    captions = await write_captions(plan, Path(verified.reel.path))
    analysis, filmstrip, features = await write_files(job.id, info, plan, binaries=editor.binaries, work_dir=job.work)
    files = {"thumbnail": thumbnail, "captions": captions, "analysis": analysis, "filmstrip": filmstrip}
    return verified.model_copy(update={**files, "features": features})


async def _verified_still_there(verified: Verified) -> bool:
    # Verify may have re-joined the reel with corrected sound: the files it vouched for must be there.
    files = [verified.reel, *verified.extras().values()]
    made = verified.thumbnail is not None and verified.analysis is not None
    return made and all([await _still_there(f) for f in files])


async def _still_there(f: RenderedFile) -> bool:
    # Hashed in a thread: the event loop keeps renewing the lease and serving the API meanwhile.
    return await asyncio.to_thread(matches, Path(f.path), f.size, f.sha256)


async def _source_unchanged(info: SourceInfo) -> bool:
    # The source was hashed while validating; its identity spares a resume hashing it again.
    return await unchanged_since(Path(info.path), info.size, info.sha256, info.identity)


TABLE = StageTable(
    (
        Stage("fetch", 0.04, Staged, _fetch, trust=still_staged),
        Stage("validate", 0.03, SourceInfo, _validate, trust=_source_unchanged),
        Stage("analyze", 0.10, Plan, _analyze),
        Stage("render", 0.78, Reel, _render, trust=_still_there, parts="segment:"),
        Stage("verify", 0.05, Verified, _verify, trust=_verified_still_there),
    )
)
STAGES, STAGE_NAMES = TABLE.stages, TABLE.names


def _result(run: StageRun) -> JobResult:
    info, plan, verified = run.get("validate", SourceInfo), run.get("analyze", Plan), run.get("verify", Verified)
    return job_result(info, plan, verified, run.seconds)


def _remove_stale_pipes(job_dir: Path) -> None:
    # A worker killed in the instant between making its pipes and ffmpeg opening them leaves their
    # names behind (once open, they are unlinked at once); the attempt that takes over removes them.
    if job_dir.is_dir():
        for path in job_dir.rglob("*.fifo"):
            if path.is_fifo():
                path.unlink(missing_ok=True)
