"""How a stage table runs: each stage's checkpoint trusted or the stage redone, progress by weight, events.

`editor.py` holds the table itself (what the stages are); this module holds what running any table means,
so a new stage is one entry there and one module under `stages/`, and nothing here changes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.db.checkpoint import Checkpoints
from app.domain.spec import JobSpec
from app.stages.fetch import Fetcher

StageHook = Callable[[str, str, float | None], Awaitable[None]]  # stage, "start"|"end"|"skip", seconds
ProgressHook = Callable[[str, float], Awaitable[None]]  # stage, overall 0..1

_M = TypeVar("_M", bound=BaseModel)


async def _always(_: Any) -> bool:
    return True


@dataclass(frozen=True)
class Hooks:
    """Callbacks the runner hands in: stage boundaries and progress. Both optional."""

    on_stage: StageHook | None = None
    on_progress: ProgressHook | None = None


NO_HOOKS = Hooks()


@dataclass(frozen=True)
class JobFiles:
    """What every stage may read of the job: its id, source, request, reel and this attempt's directory."""

    id: str
    source: Path | Fetcher
    spec: JobSpec
    output: Path
    work: Path


@dataclass(frozen=True)
class Stage:
    """One entry of the stage table.

    `weight` is the stage's share of the job's progress; `run(editor, run)` produces `model`, which is also
    what its checkpoint holds; `trust` says whether a saved result still holds (a result naming a file is
    trusted only while that file is exactly as recorded); `parts` is the prefix of the stage's own
    sub-checkpoints (render's finished clips). A stage depends on every stage before it: redoing one drops
    the checkpoints of all that follow.
    """

    name: str
    weight: float
    model: type[BaseModel]
    run: Callable[[Any, StageRun], Awaitable[BaseModel]]
    trust: Callable[[Any], Awaitable[bool]] = _always
    parts: str | None = None


@dataclass(frozen=True)
class StageTable:
    """The stages in order, and what follows from the order: names, progress offsets, dependencies."""

    stages: tuple[Stage, ...]
    names: tuple[str, ...] = field(init=False)
    offsets: dict[str, float] = field(init=False)  # where each stage's share of the progress bar starts

    def __post_init__(self) -> None:
        names = tuple(s.name for s in self.stages)
        starts = itertools.accumulate((s.weight for s in self.stages), initial=0.0)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "offsets", dict(zip(names, starts, strict=False)))

    def depends_on(self, key: str, stage: str) -> bool:
        """True when checkpoint `key` (a stage, or a stage's part) was built on `stage`'s result."""
        owner = next((s.name for s in self.stages if s.parts and key.startswith(s.parts)), key)
        return owner in self.names and self.names.index(owner) > self.names.index(stage)

    def overall(self, stage: str, fraction: float) -> float:
        """The job's progress 0..1 when `stage` is `fraction` done."""
        weight = self.stages[self.names.index(stage)].weight
        return self.offsets[stage] + weight * min(max(fraction, 0.0), 1.0)


class StageRun:
    """One attempt at a job: which stages were saved, what each returned, and how long each took."""

    def __init__(
        self,
        table: StageTable,
        job: JobFiles,
        hooks: Hooks,
        checkpoints: Checkpoints,
        saved: dict[str, dict[str, Any]],
    ) -> None:
        self.table = table
        self.job = job
        self.checkpoints = checkpoints
        self.hooks = hooks
        self.saved = saved
        self.results: dict[str, BaseModel] = {}
        self.seconds: dict[str, float] = {}

    def get(self, name: str, model: type[_M]) -> _M:
        """What an earlier stage returned (or its trusted checkpoint held)."""
        value = self.results[name]
        assert isinstance(value, model)
        return value

    async def stage(self, stage: Stage, editor: Any) -> BaseModel:
        """The stage's result: its checkpoint when that still holds, else the stage run (and checkpointed)."""
        saved = self.saved.get(stage.name)
        value = None if saved is None else _saved_value(stage, saved)
        if saved is not None and value is not None and await stage.trust(value):
            self.seconds[stage.name] = float(saved.get("_seconds", 0.0))
            await self.notify(stage.name, "skip", None)
            await self.progress(stage.name, 1.0)
            return value
        # A stage redone invalidates what later stages built on it.
        self.saved = {k: v for k, v in self.saved.items() if not self.table.depends_on(k, stage.name)}
        await self.notify(stage.name, "start", None)
        started = time.perf_counter()
        value = await stage.run(editor, self)
        elapsed = time.perf_counter() - started
        self.seconds[stage.name] = round(elapsed, 3)
        await self.checkpoints.save_stage_data(self.job.id, stage.name, _seconds=elapsed, **value.model_dump())
        await self.progress(stage.name, 1.0)
        await self.notify(stage.name, "end", elapsed)
        return value

    async def progress(self, stage: str, fraction: float) -> None:
        """Report `stage` as `fraction` done (as the job's overall progress)."""
        if self.hooks.on_progress:
            await self.hooks.on_progress(stage, round(self.table.overall(stage, fraction), 4))

    async def notify(self, stage: str, event: str, seconds: float | None) -> None:
        """Report a stage's (or a part's) start, end or skip."""
        if self.hooks.on_stage:
            await self.hooks.on_stage(stage, event, seconds)


def _saved_value(stage: Stage, saved: dict[str, Any]) -> BaseModel | None:
    """The stage's result as its checkpoint holds it; None when an older version saved it in another shape."""
    try:
        return stage.model.model_validate({k: v for k, v in saved.items() if k != "_seconds"})
    except ValidationError:
        return None
