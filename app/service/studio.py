"""What the Studio reads of a completed job besides its reel: its analysis, and its source for a `<video>`."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from app.domain.jobs import JobRefused, Owner
from app.storage import ReelDownload
from app.storage.sources import SourceError, resolve_source

if TYPE_CHECKING:
    from app.service.jobs import JobService


class StudioService:
    """The analysis and the source of the caller's completed jobs, read through the job service's store and rules."""

    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs

    async def analysis(self, job_id: uuid.UUID, owner: Owner) -> bytes:
        """The completed job's analysis JSON; JobRefused 404 `analysis_not_found` while it has none, or no more."""
        row = await self.jobs.get(job_id, owner)
        media, data = self.jobs.media, None
        if row.status == "completed" and not (row.result or {}).get("output_expired") and media is not None:
            data = await media.store.read(str(job_id), "analysis")
        if data is None:
            raise JobRefused(
                404,
                "analysis_not_found",
                f"Job {job_id} has no analysis: it exists once the job is completed, until its reel expires.",
            )
        return data

    async def source(self, job_id: uuid.UUID, owner: Owner) -> ReelDownload:
        """How the caller plays a completed job's source; JobRefused 404 `source_not_playable` unless a browser can.

        A source under MEDIA_ROOT is served from there; any other was published with the job's files.
        """
        analysis = json.loads(await self.analysis(job_id, owner))
        if not analysis["source"]["playable"]:
            raise JobRefused(
                404,
                "source_not_playable",
                f"The source of job {job_id} is not H.264 with AAC in MP4 or MOV, which browsers play: use the "
                "filmstrip.",
            )
        row = await self.jobs.get(job_id, owner)
        download = None
        if row.spec.input_path is not None:
            try:
                path = resolve_source(self.jobs.settings.media_root, row.spec.input_path)
                download = ReelDownload(path=path, stat=path.stat())
            except (SourceError, OSError):
                download = None
        elif self.jobs.media is not None:
            download = await self.jobs.media.store.download(str(job_id), "source", filename=f"{job_id}.mp4")
        if download is None:
            raise JobRefused(404, "output_not_found", f"The source of job {job_id} is not stored any more.")
        return download
