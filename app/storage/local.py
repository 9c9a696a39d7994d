"""The local store: reels under OUTPUT_ROOT on this disk, served as files."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import stat
from pathlib import Path

from app.media.files import part_name
from app.storage.base import SUFFIX, Output, Progress, ReelDownload, S3Location


class LocalStore:
    """Reels as `OUTPUT_ROOT/<job id>.mp4`; the pipeline renames the reel into place itself.

    `output_root`: where reels live; `uploads_root`: where uploads are kept. Clients of this store share
    its disk, so results keep `output_path`.
    """

    shares_disk = True

    def __init__(self, *, output_root: Path, uploads_root: Path) -> None:
        self.output_root = output_root
        self.uploads_root = uploads_root

    def upload_path(self, upload_id: str) -> Path:
        """Where an upload is kept."""
        return self.uploads_root / upload_id

    def reel_path(self, job_id: str, what: Output = "reel") -> Path:
        """The final path of the job's reel or thumbnail: the one place that builds it."""
        return self.output_root / f"{job_id}{SUFFIX[what]}"

    def reel_target(self, job_id: str, work_dir: Path) -> Path:
        return self.reel_path(job_id)

    def discard_partial(self, job_id: str) -> None:
        # A concat (or poster frame) killed half-way leaves its temp name beside the reel.
        for part in self.output_root.glob(f".{job_id}.*.part"):
            part.unlink(missing_ok=True)

    async def publish(self, job_id: str, what: Output, path: Path) -> None:
        final = self.reel_path(job_id, what)
        if what == "source":
            await asyncio.to_thread(_link, path, final)
        elif path != final:  # the pipeline writes into place already; anything else is moved there
            await asyncio.to_thread(shutil.move, path, final)

    async def share(self, job_id: str, what: Output, from_job: str) -> bool:
        try:
            await asyncio.to_thread(_link, self.reel_path(from_job, what), self.reel_path(job_id, what))
        except FileNotFoundError:
            return False
        return True

    async def read(self, job_id: str, what: Output) -> bytes | None:
        try:
            return await asyncio.to_thread(self.reel_path(job_id, what).read_bytes)
        except FileNotFoundError:
            return None

    async def stage_output(self, job_id: str, what: Output, job_dir: Path) -> Path | None:
        # A second name in the job's dir, so the file outlives its job's expiry while this job reads it; where
        # the temp dir is another filesystem, the file itself (a link cannot cross, and a copy would cost).
        path, staged = self.reel_path(job_id, what), job_dir / f"base{SUFFIX[what]}"
        if staged.is_file():
            return staged
        if not path.is_file():
            return None
        job_dir.mkdir(parents=True, exist_ok=True)
        try:
            linked = await asyncio.to_thread(_hard_link, path, staged)
        except FileNotFoundError:
            return None
        return staged if linked else path

    async def put_upload(self, upload_id: str, src: Path) -> None:
        self.uploads_root.mkdir(parents=True, exist_ok=True)
        # A rename when the temp dir shares the filesystem, else a copy: either way, in a thread.
        await asyncio.to_thread(shutil.move, src, self.upload_path(upload_id))

    async def stage_upload(
        self, upload_id: str, job_dir: Path, *, on_progress: Progress | None = None
    ) -> tuple[Path, str | None] | None:
        path = self.upload_path(upload_id)
        return (path, None) if path.is_file() else None

    async def delete_upload(self, upload_id: str) -> None:
        self.upload_path(upload_id).unlink(missing_ok=True)

    async def download(self, job_id: str, what: Output, *, filename: str) -> ReelDownload | None:
        path = self.reel_path(job_id, what)
        try:  # one stat, served with: a sweep that deletes the file after it cannot turn the answer into a 500
            found = path.stat()
        except FileNotFoundError:
            return None
        return ReelDownload(path=path, stat=found) if stat.S_ISREG(found.st_mode) else None

    async def delete_outputs(self, job_id: str) -> None:
        for what in SUFFIX:
            self.reel_path(job_id, what).unlink(missing_ok=True)
        self.discard_partial(job_id)

    def owns(self, location: S3Location) -> bool:
        return False


def _link(src: Path, final: Path) -> None:
    """A second name for `src` at `final` (no bytes copied); a copy only when they lie on different filesystems."""
    if final.exists() and os.path.samefile(src, final):
        return
    part = part_name(final)
    part.unlink(missing_ok=True)
    if not _hard_link(src, part):
        shutil.copyfile(src, part)
    os.replace(part, final)


def _hard_link(src: Path, dest: Path) -> bool:
    """Give `src` the second name `dest`; False when they lie on different filesystems (a link cannot cross)."""
    try:
        os.link(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        return False
    return True
