"""The MediaStore Protocol: where reels go once rendered, and how a client gets them back."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol
from urllib.parse import urlsplit

Progress = Callable[[float], Awaitable[None]]  # the share of a transfer done, 0..1


def write_hashed(f: BinaryIO, digest: Any, chunk: bytes) -> None:
    """Write a chunk and feed it to the running hash: one thread hop does both, off the event loop."""
    f.write(chunk)
    digest.update(chunk)


async def save_stream(
    chunks: AsyncGenerator[bytes, None],
    dest: Path,
    *,
    max_bytes: int | None,
    too_large: str,
    check_start: Callable[[bytes], None] | None = None,
    total: int | None = None,
    on_progress: Progress | None = None,
) -> tuple[int, str]:
    """Stream `chunks` into `dest` through a temp name, hashing as they come; returns (size, sha256).

    `check_start` sees the first chunk (and may raise); past `max_bytes` it raises `input_too_large` with
    `too_large`; `on_progress` hears the share of `total` written after each chunk, when the size is known.
    On any failure the temp file is removed and the stream closed: nothing is left behind.
    """
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    digest, size = hashlib.sha256(), 0
    f = await asyncio.to_thread(part.open, "wb")
    try:
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                if size == 0 and check_start is not None:
                    check_start(chunk)
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ObjectError("input_too_large", too_large)
                await asyncio.to_thread(write_hashed, f, digest, chunk)
                if on_progress is not None and total:
                    await on_progress(min(size / total, 1.0))
        await asyncio.to_thread(f.close)
        os.replace(part, dest)
    except BaseException:
        f.close()
        part.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


class ObjectError(Exception):
    """A source could not be read: a stable code (`input_not_found`, `input_forbidden`, `input_too_large`, …)
    and a sentence a person can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# What a job publishes: the MP4 reel, its poster frame, its WebVTT; for the Studio its analysis (JSON), the source's
# filmstrip (JPEG) and the source itself when it is not kept elsewhere; and its features, for a job based on it.
Output = Literal["reel", "thumbnail", "captions", "analysis", "filmstrip", "source", "features"]
SUFFIX: dict[Output, str] = {
    "reel": ".mp4",
    "thumbnail": ".jpg",
    "captions": ".vtt",
    "analysis": ".analysis.json",
    "filmstrip": ".filmstrip.jpg",
    "source": ".source",
    "features": ".features.json.gz",
}


@dataclass(frozen=True)
class ReelDownload:
    """How to hand a reel to a client: a file to serve from this disk, or a fresh presigned URL."""

    path: Path | None = None
    url: str | None = None
    stat: os.stat_result | None = None  # the file's, taken once when it was found: served with it


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key (or key prefix) in it."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """`s3://bucket/key` → S3Location; ValueError when it is not one."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"{url!r} is not an s3://bucket/key URL")
        return cls(parts.netloc, parts.path.lstrip("/"))

    def within(self, prefix: S3Location) -> bool:
        """True when this location lies under `prefix` (same bucket, key starting with the prefix)."""
        return self.bucket == prefix.bucket and self.key.startswith(prefix.key)


class MediaStore(Protocol):
    """Where finished reels live. The pipeline always writes a local file; the store takes it from there.

    `shares_disk` is True when clients see this machine's files, so a result may name `output_path`.
    """

    shares_disk: bool

    def reel_target(self, job_id: str, work_dir: Path) -> Path:
        """Where the pipeline writes the reel: its final place (local) or a file in the job's temp dir."""
        ...

    def discard_partial(self, job_id: str) -> None:
        """Remove what a killed attempt left half-written in the store's own place (a concat's temp name)."""
        ...

    async def publish(self, job_id: str, what: Output, path: Path) -> None:
        """Make the finished file at `path` the job's published reel or thumbnail (one object per job and kind).

        A `source` is never moved: it may be an upload, or another job's source (a hard link on a local disk).
        """
        ...

    async def share(self, job_id: str, what: Output, from_job: str) -> bool:
        """Publish as the job's `what` the one `from_job` published, no byte through this machine (a hard link on a
        local disk, a copy inside the bucket); False when that job's is gone."""
        ...

    async def read(self, job_id: str, what: Output) -> bytes | None:
        """The bytes of a small published file (the analysis); None when it is not stored."""
        ...

    async def stage_output(self, job_id: str, what: Output, job_dir: Path) -> Path | None:
        """A local file of a published file for another job to read, in `job_dir` so that it outlives its job's
        expiry (a hard link on a local disk, a copy streamed from S3); None when it is not stored."""
        ...

    async def put_upload(self, upload_id: str, src: Path) -> None:
        """Keep the received file `src` as upload `upload_id` (moved or copied; `src` may be gone after)."""
        ...

    async def stage_upload(
        self, upload_id: str, job_dir: Path, *, on_progress: Progress | None = None
    ) -> tuple[Path, str | None] | None:
        """A local file of the upload for ffmpeg, and its sha256 when the copy hashed it; None when it is gone.

        The stored file itself (nothing copied, no hash) or a copy streamed into `job_dir`.
        """
        ...

    async def delete_upload(self, upload_id: str) -> None:
        """Delete an upload (no error when it is already gone)."""
        ...

    async def download(self, job_id: str, what: Output, *, filename: str) -> ReelDownload | None:
        """How a client downloads the job's reel or thumbnail; None when there is none."""
        ...

    async def delete_outputs(self, job_id: str) -> None:
        """Delete every file the job published (SUFFIX's kinds), and any of them half-published (no error when gone)."""
        ...

    def owns(self, location: S3Location) -> bool:
        """True when `location` is inside this store (inputs must never read the store's own objects)."""
        ...
