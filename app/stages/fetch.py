"""Stage 0: a local file ffmpeg can read: the source where it lies, or a copy streamed into the job's directory.

Where the bytes come from (MEDIA_ROOT, an upload, S3, an `input_url`) is the runner's business (`sources.py`);
this stage runs what it was handed, reports its progress and checkpoints the result, so a resumed job on the
same machine keeps a copy that was complete, and one on another machine fetches again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from app.media.files import file_identity, unchanged_since

FetchProgress = Callable[[float], Awaitable[None]]  # fraction of the source's bytes staged, 0..1


class Staged(BaseModel):
    """The local file a job reads, and its hash when it was computed while the file streamed in."""

    model_config = ConfigDict(frozen=True)

    path: str
    size: int
    identity: str  # file_identity() once complete: what lets validate and a resume trust `sha256`
    sha256: str | None = None  # None for a file read where it lies: validate hashes it
    features: str | None = None  # a base job's published features (`based_on`), which analyze may reuse


class Fetcher(Protocol):
    """Stages a job's source into `into` (the job's directory, which outlives one attempt), reporting progress."""

    async def __call__(self, into: Path, on_progress: FetchProgress) -> Staged: ...


async def in_place(path: Path) -> Staged:
    """A source read where it lies (MEDIA_ROOT, a local upload): nothing to copy, nothing hashed yet."""
    stat = await asyncio.to_thread(path.stat)
    return Staged(path=str(path), size=stat.st_size, identity=file_identity(path))


async def still_staged(staged: Staged) -> bool:
    """True while a copy is exactly the one that streamed in; for a file read in place, while it is there.

    What a file in place holds is validation's to judge (its checkpoint checks the hash): a touched source
    with the same bytes keeps every checkpoint after it.
    """
    path = Path(staged.path)
    if staged.sha256 is None:
        return await asyncio.to_thread(path.is_file)
    return await unchanged_since(path, staged.size, staged.sha256, staged.identity)
